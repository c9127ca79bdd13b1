namespace TtydPorts;

/// <summary>The container engine could not be reached or gave an error.</summary>
public sealed class ContainerEngineException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public ContainerEngineException() { }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ContainerEngineException(string message, Exception? innerException) : base(message, innerException) { }
}
