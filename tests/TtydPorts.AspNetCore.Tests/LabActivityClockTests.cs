using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Moq;
using NetLabBuilder.Sample;

namespace TtydPorts.AspNetCore.Tests;

/// <summary>The sample's retry of a failed terminal start against a wall clock that is set back (NTP, <c>date -s</c>).</summary>
public sealed class LabActivityClockTests
{
    // Time that really passes (Advance) moves the monotonic timestamp and the wall clock; a step moves the wall clock only.
    private sealed class SteppedClock(DateTimeOffset start) : FakeTimeProvider(start)
    {
        public TimeSpan WallStep { get; set; }

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + WallStep;

        public override long GetTimestamp() => base.GetUtcNow().UtcTicks;
    }

    [Fact]
    public async Task Failed_terminal_is_retried_after_its_delay_even_when_the_wall_clock_was_set_back_an_hour()
    {
        var ct = TestContext.Current.CancellationToken;
        var clock = new SteppedClock(new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero));
        var manager = new Mock<ITtydSessionManager>();
        manager.Setup(m => m.EnsureSessionAsync("node_1", "guest_abc123", "topo_1", It.IsAny<CancellationToken>()))
            .ThrowsAsync(new TtydStartException("ttyd did not start"));
        var activity = new LabActivity(manager.Object, clock, NullLogger<LabActivity>.Instance);
        var node = new LabNode("node_1", "guest_abc123", "topo_1", "r1", "running");

        Assert.Equal("failed", (await activity.WaitForTerminalAsync(node, ct)).Terminal);

        clock.WallStep = TimeSpan.FromHours(-1); // the host's clock is corrected backwards
        clock.Advance(TimeSpan.FromSeconds(11)); // longer than the sample's retry delay really passes
        Assert.Equal("starting", activity.TerminalOf(node).Terminal);
        await activity.SettleAllAsync();
    }
}
