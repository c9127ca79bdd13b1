namespace TtydPorts;

/// <summary>Where a session's command came from.</summary>
internal enum CommandSource
{
    Request,
    Label,
    Default,
}

/// <summary>
/// Pure code: which command a container's terminal runs. In order: the host's explicit command for the call, the first
/// label mapping that matches (label names in ordinal order; within one label an exact value beats a <c>prefix*</c>
/// pattern, a longer prefix a shorter one), then <see cref="TtydSessionOptions.Shell"/>.
/// </summary>
internal static class TerminalCommandResolver
{
    public static (TerminalCommand Command, CommandSource Source) Resolve(TtydSessionOptions options, IReadOnlyDictionary<string, string> labels, TerminalCommand? requested)
    {
        if (requested is not null)
        {
            return (requested, CommandSource.Request);
        }

        foreach (var (label, byValue) in options.CommandsByLabel.OrderBy(static m => m.Key, StringComparer.Ordinal))
        {
            if (labels.TryGetValue(label, out var value) && Match(byValue, value) is { } mapped)
            {
                return (mapped, CommandSource.Label);
            }
        }

        return (Default(options), CommandSource.Default);
    }

    /// <summary>The global default: <see cref="TtydSessionOptions.Shell"/> alone.</summary>
    public static TerminalCommand Default(TtydSessionOptions options) => TerminalCommand.Of(options.Shell);

    private static TerminalCommand? Match(IDictionary<string, TerminalCommand> byValue, string value)
    {
        if (byValue.TryGetValue(value, out var exact))
        {
            return exact;
        }

        TerminalCommand? best = null;
        var bestLength = -1;
        foreach (var (pattern, command) in byValue)
        {
            // Only a trailing '*' is special: vrnetlab's kinds are vr-sros, vr-vmx, ...
            if (pattern.EndsWith('*') && pattern.Length - 1 > bestLength && value.StartsWith(pattern[..^1], StringComparison.Ordinal))
            {
                best = command;
                bestLength = pattern.Length - 1;
            }
        }

        return best;
    }

    /// <summary>containerlab's node kinds (label <c>clab-node-kind</c>) mapped to the node's own CLI or console.</summary>
    public static Dictionary<string, IDictionary<string, TerminalCommand>> DefaultMappings() => new(StringComparer.Ordinal)
    {
        [ContainerlabKindLabel] = new Dictionary<string, TerminalCommand>(StringComparer.Ordinal)
        {
            ["srl"] = TerminalCommand.Of("sr_cli"),
            ["nokia_srlinux"] = TerminalCommand.Of("sr_cli"),
            ["ceos"] = TerminalCommand.Of("Cli"),
            ["arista_ceos"] = TerminalCommand.Of("Cli"),
            ["vr-*"] = TerminalCommand.Of("telnet", "127.0.0.1", "5000"),
        },
    };

    /// <summary>The label containerlab puts the node's kind in.</summary>
    public const string ContainerlabKindLabel = "clab-node-kind";
}
