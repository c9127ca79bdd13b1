namespace TtydPorts;

/// <summary>ttyd could not be started for a container after every attempt.</summary>
public sealed class TtydStartException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public TtydStartException() { }

    /// <summary>Creates the exception.</summary>
    public TtydStartException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public TtydStartException(string message, Exception? innerException) : base(message, innerException) { }
}
