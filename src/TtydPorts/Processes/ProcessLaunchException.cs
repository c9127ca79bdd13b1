namespace TtydPorts;

/// <summary>Why a process launch failed.</summary>
public enum LaunchFailure
{
    /// <summary>The program does not exist or cannot be executed.</summary>
    NotExecutable,
    /// <summary>It exited before it was ready (for ttyd most often: the port was taken).</summary>
    ExitedEarly,
    /// <summary>It ran but was not ready within the timeout.</summary>
    Timeout,
}

/// <summary>A process could not be started or did not become ready.</summary>
public sealed class ProcessLaunchException : TtydPortsException
{
    /// <summary>Creates the exception with its cause.</summary>
    /// <param name="failure">What went wrong.</param>
    /// <param name="message">The message.</param>
    /// <param name="exitCode">Its exit code when it exited; null when it did not (or never ran).</param>
    /// <param name="output">The last lines it printed; empty when none.</param>
    public ProcessLaunchException(LaunchFailure failure, string message, int? exitCode, string output)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(output);
        Failure = failure;
        ExitCode = exitCode;
        Output = output;
    }

    /// <summary>What went wrong.</summary>
    public LaunchFailure Failure { get; }

    /// <summary>Its exit code when it exited; null when it did not (or never ran).</summary>
    public int? ExitCode { get; }

    /// <summary>The last lines the process printed; empty when none.</summary>
    public string Output { get; }
}
