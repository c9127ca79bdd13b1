using Moq;
using NetLabBuilder.Sample;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The NetLab profile's capability tokens without processes: the manager is a mock.</summary>
public sealed class NetlabCapabilityTests
{
    private static TtydSession Session(string container, int pid) => new()
    {
        Container = container,
        UserId = "guest_abc123",
        Process = new ProcessIdentity(pid, 1000 + (ulong)pid),
        StartedAt = DateTimeOffset.UnixEpoch.AddSeconds(pid),
        SocketPath = $"/run/x/{container}-{pid}.sock",
    };

    [Fact]
    public void Netlab_capability_token_is_random_stable_for_its_session_and_dead_once_the_session_is_replaced()
    {
        var r1 = Session("node_1", 100);
        var r2 = Session("node_2", 200);
        var live = new Dictionary<string, TtydSession> { ["node_1"] = r1, ["node_2"] = r2 };
        var manager = new Mock<ITtydSessionManager>();
        manager.Setup(m => m.FindSession(It.IsAny<string>())).Returns((string c) => live.GetValueOrDefault(c));
        var capabilities = new TerminalCapabilities(manager.Object);

        var token1 = capabilities.TokenFor(r1);
        var token2 = capabilities.TokenFor(r2);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", token1); // 32 random bytes, base64url
        Assert.NotEqual(token1, token2);
        Assert.Equal(token1, capabilities.TokenFor(r1)); // the same at every poll
        Assert.Same(r1, capabilities.Resolve(token1));
        Assert.Same(r2, capabilities.Resolve(token2));
        Assert.Null(capabilities.Resolve(token1[..^1]));
        Assert.Null(capabilities.Resolve(""));

        // The principal a token makes is authorized for its own session only.
        var principal = TerminalCapabilities.PrincipalFor(r1);
        Assert.True(principal.Identity?.IsAuthenticated);
        Assert.True(TerminalCapabilities.Grants(principal, r1));
        Assert.False(TerminalCapabilities.Grants(principal, r2));

        // The container's session is replaced (another ttyd process): the old token is dead, for good, and the new one differs.
        var replaced = Session("node_1", 101);
        live["node_1"] = replaced;
        Assert.Null(capabilities.Resolve(token1));
        Assert.False(TerminalCapabilities.Grants(principal, replaced));
        var token3 = capabilities.TokenFor(replaced);
        Assert.NotEqual(token1, token3);
        live["node_1"] = r1; // even should the old session come back, its token was revoked
        Assert.Null(capabilities.Resolve(token1));

        // A session that is gone: Prune forgets its token.
        live.Remove("node_2");
        capabilities.Prune();
        live["node_2"] = r2;
        Assert.Null(capabilities.Resolve(token2));
        Assert.NotEqual(token2, capabilities.TokenFor(r2));
    }
}
