namespace TtydPorts.IntegrationTests;

/// <summary>Commands per node over real ttyd, tmux and Docker: by label, explicit, arguments kept apart, in status and markers.</summary>
[Collection(RealPartsCollection.Name)]
public sealed class TerminalCommandTests(ContainerLab lab)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TerminalCommand NodeKindCommand = TerminalCommand.Of("sh", "-c", "echo node-kind-$((40+2)); exec sh");

    private static void MapLinuxTest(TtydSessionOptions options) =>
        options.CommandsByLabel["clab-node-kind"]["linux-test"] = NodeKindCommand;

    // A test container labelled like a containerlab node of kind linux-test.
    private string StartNode()
    {
        var name = lab.NextName();
        RealParts.Docker("run", "-d", "--label", RealParts.TestLabel, "--label", "clab-node-kind=linux-test", "--name", name, "--network", "none", RealParts.Image, "sleep", "3600");
        lab.Track(name);
        return name;
    }

    [Fact]
    public async Task A_labelled_node_runs_its_mapped_command_an_explicit_one_replaces_it_and_adoption_keeps_it()
    {
        var node = StartNode();
        var plain = lab.StartContainer(); // control: no label, the default shell
        var first = new ManagerUnderTest(18700, 18709, MapLinuxTest);
        var session = await first.Manager.EnsureSessionAsync(node, "alice", null, Ct);

        Assert.Equal(NodeKindCommand, session!.Command);
        await using (var client = await TtydClient.ConnectAsync(session.GetUrl(), Ct))
        {
            await client.WaitForAsync("node-kind-42", Poll.Within(30));
        }

        var other = await first.Manager.EnsureSessionAsync(plain, "alice", null, Ct);
        Assert.Equal(TerminalCommand.Of("/bin/sh"), other!.Command);
        Assert.Equal([NodeKindCommand, TerminalCommand.Of("/bin/sh")], first.Manager.GetStatus().Sessions.OrderBy(s => s.Session.Container == plain).Select(s => s.Session.Command));

        // A restarted host adopts the session with its command from the signed markers, and reuses it for that command.
        await first.AbandonAsync();
        await using var second = new ManagerUnderTest(18700, 18709, MapLinuxTest, instance: first.Instance);
        var adopted = second.Manager.FindSession(node);
        Assert.Equal(NodeKindCommand, adopted!.Command);
        Assert.Equal(session.ProcessId, (await second.Manager.EnsureSessionAsync(node, "alice", null, new TerminalRequest { Command = NodeKindCommand }, Ct))!.ProcessId);

        // The explicit command beats the label, as another user in another folder with a variable; the old session goes.
        var explicitCommand = new TerminalCommand
        {
            Arguments = ["sh", "-c", "echo who-$(id -u)-$PWD-$LAB_X; exec sh"],
            User = "65534:65534", // numeric: the test image knows no user but root
            WorkingDirectory = "/tmp",
            Environment = new Dictionary<string, string> { ["LAB_X"] = "x y" },
        };
        var replaced = await second.Manager.EnsureSessionAsync(node, "alice", null, new TerminalRequest { Command = explicitCommand }, Ct);
        Assert.NotEqual(session.ProcessId, replaced!.ProcessId);
        Assert.False(second.Supervisor.IsAlive(session.Process));
        await using (var client = await TtydClient.ConnectAsync(replaced.GetUrl(), Ct))
        {
            await client.WaitForAsync("who-65534-/tmp-x y", Poll.Within(30));
            Assert.DoesNotContain("node-kind-42", client.Screen, StringComparison.Ordinal);
        }

        Assert.Equal(explicitCommand, second.Manager.GetStatus().Sessions.Single(s => s.Session.Container == node).Session.Command);

        // Another user asking for yet another command is a conflict: the running session stays.
        await Assert.ThrowsAsync<SessionConflictException>(() => second.Manager.EnsureSessionAsync(node, "bob", null, new TerminalRequest { Command = NodeKindCommand }, Ct).AsTask());
        Assert.True(second.IsAlive(replaced));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Arguments_with_spaces_quotes_and_semicolons_arrive_separately_and_unchanged(bool persistent)
    {
        var container = lab.StartContainer();
        await using var sut = new ManagerUnderTest(18710, 18719, o => o.PersistentShells = persistent);
        // sh prints each of its positional arguments between bars: joined or re-split arguments would show otherwise.
        var command = TerminalCommand.Of("sh", "-c", "printf '%s|' \"$@\"; echo; exec sh", "sh", "a b", "c;d", "'q'", "e;", "$HOME");

        var session = await sut.Manager.EnsureSessionAsync(container, "alice", null, new TerminalRequest { Command = command }, Ct);

        await using var client = await TtydClient.ConnectAsync(session!.GetUrl(), Ct);
        await client.WaitForAsync("a b|c;d|'q'|e;|$HOME|", Poll.Within(30));
        Assert.Equal(command, session.Command);
    }
}
