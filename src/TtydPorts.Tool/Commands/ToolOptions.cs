using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using TtydPorts.Tool.Output;

namespace TtydPorts.Tool.Commands;

/// <summary>A port range as <c>--range</c> gives it.</summary>
internal sealed record PortRange(int Start, int End)
{
    public PortScope On(IPAddress bind) => new(Start, End, bind);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Start}-{End}");
}

/// <summary>The options the commands share, each with its own validation and a message that names the bad value.</summary>
internal static class ToolOptions
{
    public const int DefaultRangeStart = 8000;
    public const int DefaultRangeEnd = 9000;

    public static Option<string?> Instance() => Id(
        "--instance",
        "Only the sessions of this manager instance (TtydSessionOptions.InstanceName). Default: every instance.",
        "Instance name");

    public static Option<string?> User() => Id("--user", "Only sessions owned by this user id (exact match).", "User id");

    public static Option<string?> Topology() => Id("--topology", "Only sessions of this topology id (exact match).", "Topology id");

    public static Option<string?> Container()
    {
        var option = new Option<string?>("--container") { Description = "Only the session of this container (exact name).", HelpName = "NAME" };
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string?>();
            if (!SessionIds.IsValidContainerName(value))
            {
                result.AddError($"Container name {SessionIds.Quote(value)} is invalid: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]* and be at most {SessionIds.MaxLength} characters.");
            }
        });
        return option;
    }

    public static Option<PortRange> Range() => new("--range")
    {
        Description = "The port range, inclusive (TtydSessionOptions.PortRangeStart-PortRangeEnd).",
        HelpName = "START-END",
        DefaultValueFactory = _ => new PortRange(DefaultRangeStart, DefaultRangeEnd),
        CustomParser = ParseRange,
    };

    public static Option<IPAddress> Bind() => new("--bind")
    {
        Description = "The address ttyd binds (TtydSessionOptions.BindAddress): a port counts as used when a listener would keep a socket on this address from binding it.",
        HelpName = "ADDRESS",
        DefaultValueFactory = _ => IPAddress.Loopback,
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (IPAddress.TryParse(text, out var address) && !text.Contains('%', StringComparison.Ordinal))
            {
                return address;
            }

            result.AddError($"Bind address {SessionIds.Quote(text)} is invalid: give an IPv4 or IPv6 address, e.g. 127.0.0.1 or ::1.");
            return IPAddress.Loopback;
        },
    };

    public static Option<bool> Json(string what) => new("--json") { Description = $"Print {what} as JSON." };

    public static Option<double> Grace() => new("--grace")
    {
        Description = "Seconds a ttyd gets after SIGTERM before SIGKILL (0-3600).",
        HelpName = "SECONDS",
        DefaultValueFactory = _ => 5,
        CustomParser = result =>
        {
            var text = result.Tokens.Single().Value;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0 and <= 3600)
            {
                return seconds;
            }

            result.AddError($"Grace period {SessionIds.Quote(text)} is invalid: give seconds from 0 to 3600, e.g. 5 or 0.5.");
            return 0;
        },
    };

    internal static PortRange ParseRange(ArgumentResult result)
    {
        var text = result.Tokens.Single().Value;
        var parts = text.Split('-');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var end))
        {
            if (start is < 1 or > 65535 || end is < 1 or > 65535)
            {
                result.AddError($"Port range {SessionIds.Quote(text)} is invalid: ports must be from 1 to 65535.");
            }
            else if (start > end)
            {
                result.AddError($"Port range {SessionIds.Quote(text)} is invalid: its start is above its end.");
            }
            else
            {
                return new PortRange(start, end);
            }
        }
        else
        {
            result.AddError($"Port range {SessionIds.Quote(text)} is invalid: write it as START-END, e.g. 8000-9000.");
        }

        return new PortRange(DefaultRangeStart, DefaultRangeEnd);
    }

    private static Option<string?> Id(string name, string description, string what)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = "ID" };
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<string?>();
            if (!SessionIds.IsValidId(value))
            {
                result.AddError($"{what} {SessionIds.Quote(value)} is invalid: it must match [a-zA-Z0-9][a-zA-Z0-9_.@-]* and be at most {SessionIds.MaxLength} characters.");
            }
        });
        return option;
    }
}
