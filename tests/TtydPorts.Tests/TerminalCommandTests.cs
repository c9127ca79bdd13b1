using System.Collections.Immutable;
using Moq;

namespace TtydPorts.Tests;

/// <summary>Terminal commands per node: validation, resolution, the launch line, the markers, and reuse by command.</summary>
public sealed class TerminalCommandTests : IDisposable
{
    private const string Id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string Token = "0123456789abcdef0123456789abcdef";
    private static readonly Dictionary<string, string> NoLabels = [];
    private readonly ManagerHarness _h = new();

    public void Dispose()
    {
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string> Kind(string kind) => new() { ["clab-node-kind"] = kind };

    [Theory]
    [InlineData("srl", "sr_cli")]
    [InlineData("nokia_srlinux", "sr_cli")]
    [InlineData("ceos", "Cli")]
    [InlineData("vr-sros", "telnet 127.0.0.1 5000")]
    [InlineData("linux", "/bin/sh")]
    [InlineData("vr", "/bin/sh")] // the prefix is "vr-", not "vr"
    [InlineData("SRL", "/bin/sh")] // values match exactly, case included
    public void The_default_mapping_gives_containerlab_kinds_their_cli_and_everything_else_the_shell(string kind, string expected)
    {
        var (command, source) = TerminalCommandResolver.Resolve(new TtydSessionOptions(), Kind(kind), requested: null);

        Assert.Equal(expected, string.Join(' ', command.Arguments));
        Assert.Equal(expected == "/bin/sh" ? CommandSource.Default : CommandSource.Label, source);
    }

    [Fact]
    public void An_explicit_command_beats_the_label_which_beats_the_shell()
    {
        var options = new TtydSessionOptions { Shell = "/bin/bash" };
        var explicitCommand = TerminalCommand.Of("vtysh");

        Assert.Equal((explicitCommand, CommandSource.Request), TerminalCommandResolver.Resolve(options, Kind("srl"), explicitCommand));
        Assert.Equal((TerminalCommand.Of("sr_cli"), CommandSource.Label), TerminalCommandResolver.Resolve(options, Kind("srl"), null));
        Assert.Equal((TerminalCommand.Of("/bin/bash"), CommandSource.Default), TerminalCommandResolver.Resolve(options, NoLabels, null));

        options.CommandsByLabel.Clear(); // a host that wants no mapping
        Assert.Equal((TerminalCommand.Of("/bin/bash"), CommandSource.Default), TerminalCommandResolver.Resolve(options, Kind("srl"), null));
    }

    [Fact]
    public void Within_a_label_an_exact_value_beats_a_pattern_and_a_longer_prefix_a_shorter_one()
    {
        var options = new TtydSessionOptions();
        options.CommandsByLabel["lab.kind"] = new Dictionary<string, TerminalCommand>
        {
            ["frr*"] = TerminalCommand.Of("vtysh"),
            ["frr-old*"] = TerminalCommand.Of("telnet", "localhost", "2601"),
            ["frr-old-special"] = TerminalCommand.Of("bash"),
        };

        Assert.Equal(["vtysh"], TerminalCommandResolver.Resolve(options, new Dictionary<string, string> { ["lab.kind"] = "frr9" }, null).Command.Arguments);
        Assert.Equal(["telnet", "localhost", "2601"], TerminalCommandResolver.Resolve(options, new Dictionary<string, string> { ["lab.kind"] = "frr-old1" }, null).Command.Arguments);
        Assert.Equal(["bash"], TerminalCommandResolver.Resolve(options, new Dictionary<string, string> { ["lab.kind"] = "frr-old-special" }, null).Command.Arguments);
        Assert.Equal(CommandSource.Default, TerminalCommandResolver.Resolve(options, new Dictionary<string, string> { ["lab.kind"] = "bird" }, null).Source);
    }

    [Fact]
    public void Bad_commands_are_refused_naming_the_bad_value()
    {
        Assert.Null(TerminalCommand.Problem(new TerminalCommand { Arguments = ["sh", "-c", "a b; 'c'"], User = "1000:1000", WorkingDirectory = "/root", Environment = new Dictionary<string, string> { ["LAB_X"] = "1 2" } }));
        Assert.Contains("no arguments", TerminalCommand.Problem(new TerminalCommand()), StringComparison.Ordinal);
        Assert.Contains("no arguments", TerminalCommand.Problem(new TerminalCommand { Arguments = [] }), StringComparison.Ordinal);
        Assert.Contains("'a\\u0000b'", TerminalCommand.Problem(TerminalCommand.Of("sh", "a\0b")), StringComparison.Ordinal);
        Assert.Contains("program", TerminalCommand.Problem(TerminalCommand.Of("")), StringComparison.Ordinal);
        Assert.Contains("'--privileged'", TerminalCommand.Problem(TerminalCommand.Of("sh") with { User = "--privileged" }), StringComparison.Ordinal);
        Assert.Contains("'tmp'", TerminalCommand.Problem(TerminalCommand.Of("sh") with { WorkingDirectory = "tmp" }), StringComparison.Ordinal);
        Assert.Contains("'A-B'", TerminalCommand.Problem(TerminalCommand.Of("sh") with { Environment = new Dictionary<string, string> { ["A-B"] = "1" } }), StringComparison.Ordinal);
        Assert.Contains("'TTYDPORTS_EXEC'", TerminalCommand.Problem(TerminalCommand.Of("sh") with { Environment = new Dictionary<string, string> { ["TTYDPORTS_EXEC"] = "x" } }), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_mapping_fails_validation_naming_label_and_value()
    {
        var options = new TtydSessionOptions();
        Assert.True(new TtydSessionOptionsRules(_ => null).Validate(null, options).Succeeded); // control: the shipped mapping is valid
        options.CommandsByLabel["lab.kind"] = new Dictionary<string, TerminalCommand> { ["frr"] = TerminalCommand.Of("vtysh", "\0") };

        var result = new TtydSessionOptionsRules(_ => null).Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("CommandsByLabel['lab.kind']['frr']", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Commands_are_equal_by_content_including_the_environment()
    {
        var a = TerminalCommand.Of("sh") with { Environment = new Dictionary<string, string> { ["A"] = "1", ["B"] = "2" } };
        var b = TerminalCommand.Of("sh") with { Environment = new Dictionary<string, string> { ["B"] = "2", ["A"] = "1" } };

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, b with { Environment = new Dictionary<string, string> { ["A"] = "1", ["B"] = "3" } });
        Assert.NotEqual(TerminalCommand.Of("sh", "-c"), TerminalCommand.Of("sh"));
        Assert.NotEqual(TerminalCommand.Of("sh"), TerminalCommand.Of("sh") with { User = "root" });
    }

    [Fact]
    public void The_launch_passes_user_folder_variables_and_every_argument_separately_after_the_target()
    {
        var builder = new TtydLaunchBuilder(new TtydSessionOptions { PersistentShells = false }, "/run/tp", LaunchBuilderTests.Docker, _ => null);
        var command = new TerminalCommand
        {
            Arguments = ["printf", "%s|", "a b", "c;d", "'q'", "e;"],
            User = "admin",
            WorkingDirectory = "/home/admin",
            Environment = new Dictionary<string, string> { ["LAB"] = "x y" },
        };
        var planned = new TtydSession { Container = "node1", ContainerId = Id, UserId = "alice", Port = 8000, Command = command };

        var plain = builder.Build(planned, Token, new byte[32], "/usr/bin/ttyd", "/x.log").Arguments;
        Assert.Equal(["-u", "admin", "-w", "/home/admin", "-e", "LAB=x y", Id, "printf", "%s|", "a b", "c;d", "'q'", "e;"], plain[^13..]);

        // Through tmux: the same arguments, only a trailing ';' escaped so that tmux gives it back unchanged.
        var persistent = builder.Build(planned with { Persistent = true }, Token, new byte[32], "/usr/bin/ttyd", "/x.log", "/usr/bin/tmux", "/run/tp/t.tmux").Arguments;
        Assert.Equal([Id, "printf", "%s|", "a b", "c;d", "'q'", "e\\;"], persistent[^7..]);

        // Control: without a command the session runs the Shell, with no -u/-w.
        var shell = builder.Build(planned with { Command = null }, Token, new byte[32], "/usr/bin/ttyd", "/x.log").Arguments;
        Assert.Equal([Id, "/bin/sh"], shell[^2..]);
        Assert.DoesNotContain("-u", shell);
    }

    [Theory]
    [InlineData("a;", "a\\;")]
    [InlineData(";", "\\;")]
    [InlineData("a\\;", "a\\\\;")]
    [InlineData("a;b", "a;b")]
    public void Tmux_escaping_touches_only_a_trailing_semicolon(string argument, string escaped) =>
        Assert.Equal(escaped, TmuxCommand.EscapeTrailingSemicolon(argument));

    [Fact]
    public void The_command_round_trips_through_the_signed_markers_and_a_damaged_one_is_not_adopted()
    {
        var command = new TerminalCommand { Arguments = ["sh", "-c", "echo 'é' \"x\"; exit", ""], User = "root", WorkingDirectory = "/", Environment = new Dictionary<string, string> { ["Z"] = "=" } };
        var session = new TtydSession { Container = "node1", ContainerId = Id, UserId = "alice", Port = 8000, StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(1), Command = command };
        var markers = TtydProcessDiscovery.Markers("default", Token, session).ToDictionary();

        var parsed = TtydProcessDiscovery.TryParse(new MarkedProcess { Process = new ProcessIdentity(1, 1), Markers = markers });
        Assert.Equal(command, parsed!.Session.Command);

        Assert.Null(TtydProcessDiscovery.TryParse(new MarkedProcess { Process = new ProcessIdentity(1, 1), Markers = new Dictionary<string, string>(markers) { ["TTYDPORTS_COMMAND"] = "not base64!" } }));
        Assert.Null(CommandMarkerCodec.Decode(Convert.ToBase64String("{\"a\":[]}"u8)));
        Assert.Null(CommandMarkerCodec.Decode(Convert.ToBase64String("{\"a\":[\"sh\"],\"x\":1}"u8)));
        Assert.Equal(TerminalCommand.Of("sh"), CommandMarkerCodec.Decode(Convert.ToBase64String("{\"a\":[\"sh\"]}"u8)));

        // A session of a version that recorded no command is still ours, without one.
        markers.Remove("TTYDPORTS_COMMAND");
        Assert.Null(TtydProcessDiscovery.TryParse(new MarkedProcess { Process = new ProcessIdentity(1, 1), Markers = markers })!.Session.Command);
    }

    [Fact]
    public async Task The_manager_resolves_by_label_reuses_for_the_same_command_and_replaces_for_another()
    {
        _h.Runtime.Setup(i => i.GetContainerAsync("srl1", It.IsAny<CancellationToken>()))
            .ReturnsAsync(ManagerHarness.Container("srl1") with { Labels = Kind("srl") });
        var manager = _h.Create();

        var byLabel = await manager.EnsureSessionAsync("srl1", "alice", null, Ct);
        Assert.Equal(TerminalCommand.Of("sr_cli"), byLabel!.Command);
        Assert.Equal("sr_cli", _h.Launches[^1].Arguments[^1]);

        // The same command, asked explicitly or not: reused.
        Assert.Same(byLabel, await manager.EnsureSessionAsync("srl1", "alice", null, new TerminalRequest { Command = TerminalCommand.Of("sr_cli") }, Ct));
        Assert.Same(byLabel, await manager.EnsureSessionAsync("srl1", "alice", null, Ct));
        Assert.Single(_h.Launches);

        // Another user asking for another command: a conflict, and the running session stays.
        await Assert.ThrowsAsync<SessionConflictException>(() => manager.EnsureSessionAsync("srl1", "bob", null, new TerminalRequest { Command = TerminalCommand.Of("bash") }, Ct).AsTask());
        Assert.True(_h.Supervisor.Object.IsAlive(byLabel.Process));

        // The owner asking for another command: replaced.
        var bash = await manager.EnsureSessionAsync("srl1", "alice", null, new TerminalRequest { Command = TerminalCommand.Of("bash", "-l") }, Ct);
        Assert.Equal(TerminalCommand.Of("bash", "-l"), bash!.Command);
        Assert.NotEqual(byLabel.ProcessId, bash.ProcessId);
        Assert.False(_h.Supervisor.Object.IsAlive(byLabel.Process));
        Assert.Equal(["bash", "-l"], _h.Launches[^1].Arguments[^2..]);
        Assert.Equal(TerminalCommand.Of("bash", "-l"), manager.GetStatus().Sessions.Single().Session.Command);
    }

    [Fact]
    public async Task A_bad_explicit_command_starts_nothing_and_names_the_value()
    {
        var manager = _h.Create();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => manager.EnsureSessionAsync("node1", "alice", null, new TerminalRequest { Command = TerminalCommand.Of("sh") with { User = "-x" } }, Ct).AsTask());

        Assert.Contains("'-x'", error.Message, StringComparison.Ordinal);
        Assert.Empty(_h.Launches);
        _h.Runtime.Verify(i => i.GetContainerAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
        Assert.NotNull(await manager.EnsureSessionAsync("node1", "alice", null, new TerminalRequest(), Ct)); // control
    }

    [Fact]
    public async Task An_implementation_without_commands_serves_a_request_without_one_and_refuses_one_with_one()
    {
        var legacy = new Mock<ITtydSessionManager> { CallBase = true };
        legacy.Setup(m => m.EnsureSessionAsync("node1", "alice", null, It.IsAny<CancellationToken>())).ReturnsAsync((TtydSession?)null);

        Assert.Null(await legacy.Object.EnsureSessionAsync("node1", "alice", null, new TerminalRequest(), Ct));
        await Assert.ThrowsAsync<NotSupportedException>(() => legacy.Object.EnsureSessionAsync("node1", "alice", null, new TerminalRequest { Command = TerminalCommand.Of("sh") }, Ct).AsTask());
    }

    [Fact]
    public void The_display_form_quotes_arguments_and_leaves_variable_values_out()
    {
        var command = new TerminalCommand { Arguments = ["printf", "%s|", "a b", "it's"], User = "admin", Environment = new Dictionary<string, string> { ["TOKEN"] = "s3cret" } };

        Assert.Equal("printf '%s|' 'a b' 'it'\\''s' (user admin) (with TOKEN)", command.ToString());
        Assert.DoesNotContain("s3cret", command.ToString(), StringComparison.Ordinal);
        Assert.Equal("sr_cli", TerminalCommand.Of("sr_cli").ToString());
    }
}
