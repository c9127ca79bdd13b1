namespace TtydPorts;

/// <summary>A process survived SIGKILL, or could not be signalled.</summary>
public sealed class ProcessStopException : TtydPortsException
{
    /// <summary>Creates the exception.</summary>
    public ProcessStopException() { }

    /// <summary>Creates the exception.</summary>
    public ProcessStopException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ProcessStopException(string message, Exception? innerException) : base(message, innerException) { }
}
