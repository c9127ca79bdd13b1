using System.Collections.Immutable;
using System.Text;

namespace TtydPorts;

/// <summary>
/// What a terminal runs inside its container: a program and its arguments (an argument list handed to
/// <c>docker exec</c> as separate arguments, never a string a shell parses), optionally as another user
/// (<c>-u</c>), in another folder (<c>-w</c>) and with extra variables (<c>-e</c>). Two commands are equal when all of
/// that is equal; a session is reused only for an equal command.
/// </summary>
public sealed record TerminalCommand
{
    /// <summary>The program and its arguments, e.g. <c>["sr_cli"]</c> or <c>["telnet", "127.0.0.1", "5000"]</c>. Required: a
    /// command without is refused, naming it.</summary>
    public ImmutableArray<string> Arguments { get; init; }

    /// <summary>The user inside the container (<c>docker exec -u</c>: a name or uid, optionally <c>:group</c>); <see langword="null"/>: the image's user.</summary>
    public string? User { get; init; }

    /// <summary>The absolute working folder inside the container (<c>docker exec -w</c>); <see langword="null"/>: the image's.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Extra variables for the command (<c>docker exec -e NAME=VALUE</c>).</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>A command that runs one program without arguments, e.g. <c>TerminalCommand.Of("sr_cli")</c>.</summary>
    public static TerminalCommand Of(params string[] arguments) => new() { Arguments = [.. arguments] };

    /// <inheritdoc />
    public bool Equals(TerminalCommand? other) =>
        other is not null
        && Arguments.SequenceEqual(other.Arguments, StringComparer.Ordinal)
        && string.Equals(User, other.User, StringComparison.Ordinal)
        && string.Equals(WorkingDirectory, other.WorkingDirectory, StringComparison.Ordinal)
        && SortedEnvironment().SequenceEqual(other.SortedEnvironment());

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var argument in Arguments.IsDefault ? [] : Arguments)
        {
            hash.Add(argument, StringComparer.Ordinal);
        }

        hash.Add(User, StringComparer.Ordinal);
        hash.Add(WorkingDirectory, StringComparer.Ordinal);
        return hash.ToHashCode();
    }

    /// <summary>For display only (status, logs): the arguments as a POSIX shell would read them, then user and folder.
    /// Variable values are left out (they may be secrets). Nothing ever runs this text.</summary>
    public override string ToString()
    {
        var text = new StringBuilder(string.Join(' ', (Arguments.IsDefault ? [] : Arguments).Select(Quote)));
        if (User is not null)
        {
            text.Append(" (user ").Append(User).Append(')');
        }

        if (WorkingDirectory is not null)
        {
            text.Append(" (in ").Append(WorkingDirectory).Append(')');
        }

        if (Environment is { Count: > 0 } environment)
        {
            text.Append(" (with ").Append(string.Join(", ", environment.Keys.Order(StringComparer.Ordinal))).Append(')');
        }

        return text.ToString();
    }

    internal IEnumerable<KeyValuePair<string, string>> SortedEnvironment() =>
        (Environment ?? ImmutableDictionary<string, string>.Empty).OrderBy(static v => v.Key, StringComparer.Ordinal);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first value that breaks a rule; null when valid.</summary>
    internal static void ThrowIfInvalid(TerminalCommand? command, string paramName)
    {
        ArgumentNullException.ThrowIfNull(command, paramName);
        if (Problem(command) is { } problem)
        {
            throw new ArgumentException(problem, paramName);
        }
    }

    /// <summary>What is wrong with the command, naming the value, or <see langword="null"/>.</summary>
    internal static string? Problem(TerminalCommand command)
    {
        if (command.Arguments.IsDefaultOrEmpty)
        {
            return "The terminal command has no arguments: it needs at least the program to run.";
        }

        for (var i = 0; i < command.Arguments.Length; i++)
        {
            if (command.Arguments[i] is not { } argument)
            {
                return $"Argument {i} of the terminal command is null.";
            }

            if (argument.Contains('\0', StringComparison.Ordinal))
            {
                return $"Argument {i} of the terminal command, {SessionIds.Quote(argument)}, contains a NUL character.";
            }
        }

        if (command.Arguments[0].Length == 0)
        {
            return "The terminal command's program (its first argument) is empty.";
        }

        // One argument of docker's own command line each: a value docker would read as an option is refused.
        if (command.User is { } user && (user.Length == 0 || user[0] == '-' || !user.All(static c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' or ':')))
        {
            return $"The terminal command's user {SessionIds.Quote(user)} is not a user name or id (letters, digits, '_', '.', '-', optionally ':group').";
        }

        if (command.WorkingDirectory is { } folder && (!folder.StartsWith('/') || folder.Contains('\0', StringComparison.Ordinal)))
        {
            return $"The terminal command's working folder {SessionIds.Quote(folder)} is not an absolute path without NUL.";
        }

        foreach (var (name, value) in command.Environment ?? ImmutableDictionary<string, string>.Empty)
        {
            if (!IsVariableName(name))
            {
                return $"The terminal command's variable name {SessionIds.Quote(name)} is not a name ([A-Za-z_][A-Za-z0-9_]*).";
            }

            // The session's own markers inside the container are the library's, never the host's to set.
            if (name.StartsWith(TtydProcessDiscovery.MarkerPrefix, StringComparison.Ordinal) || name == "TERM")
            {
                return $"The terminal command's variable {SessionIds.Quote(name)} is set by TtydPorts itself.";
            }

            if (value is null || value.Contains('\0', StringComparison.Ordinal))
            {
                return $"The terminal command's variable {SessionIds.Quote(name)} has a null value or one with a NUL character.";
            }
        }

        return null;
    }

    private static bool IsVariableName(string? name) =>
        !string.IsNullOrEmpty(name) && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(static c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or ':' or '=' or '@' or ',' or '+')
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

/// <summary>What a host asks of one <see cref="ITtydSessionManager.EnsureSessionAsync(string, string, string?, TerminalRequest, CancellationToken)"/> call beyond the container and owner.</summary>
public sealed record TerminalRequest
{
    /// <summary>
    /// The command to run, beating the label mapping (<see cref="TtydSessionOptions.CommandsByLabel"/>) and the default
    /// (<see cref="TtydSessionOptions.Shell"/>); <see langword="null"/>: chosen by those. A running session of the same
    /// owner with another command is stopped and replaced.
    /// </summary>
    public TerminalCommand? Command { get; init; }
}
