namespace TtydPorts.Tool.Commands;

/// <summary>The tool's exit codes.</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Done = 0;

    /// <summary>Something could not be stopped (or checked); the output lists it.</summary>
    public const int Incomplete = 1;

    /// <summary>Bad arguments, or a question that cannot be asked (no terminal); nothing was done.</summary>
    public const int Usage = 2;
}
