namespace TtydPorts;

/// <summary>Base of the errors this library raises on purpose.</summary>
public class TtydPortsException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TtydPortsException() { }

    /// <summary>Creates the exception.</summary>
    public TtydPortsException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public TtydPortsException(string message, Exception? innerException) : base(message, innerException) { }
}
