using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Moq;

namespace TtydPorts.Tests;

/// <summary>Traces, metric advice and log messages, read as a host's listeners read them.</summary>
public sealed class ObservabilityTests : IDisposable
{
    private readonly ManagerHarness _h = new();
    private readonly FakeLogger<TtydSessionManager> _logs = new();

    // Other tests' managers write to the same static source at the same time: every activity of this test descends from
    // a parent of this test's own, and is told from theirs by its trace id.
    private static readonly ActivitySource TestSource = new("TtydPorts.Tests.Observability");
    private readonly ConcurrentBag<Activity> _stopped = [];
    private readonly ActivityListener _listener;

    public ObservabilityTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is TtydPortsActivities.SourceName or "TtydPorts.Tests.Observability",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Add,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose()
    {
        _listener.Dispose();
        if (Directory.Exists(_h.Options.RuntimeDirectory))
        {
            Directory.Delete(_h.Options.RuntimeDirectory, recursive: true);
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private TtydSessionManager Manager() =>
        _h.WithSeams(new(_h.Ports.Object, _h.Supervisor.Object, _h.Runtime.Object, Microsoft.Extensions.Options.Options.Create(_h.Options), _h.Time, _logs));

    private List<Activity> Traced(Activity parent, string name) =>
        [.. _stopped.Where(a => a.TraceId == parent.TraceId && a.OperationName == name)];

    [Fact]
    public async Task Create_stop_and_repair_are_traced_with_ttydports_tags_and_never_the_user_id()
    {
        _h.Runtime.Setup(i => i.ListContainersAsync(It.IsAny<CancellationToken>())).ReturnsAsync([_h.Info("node1"), _h.Info("node2")]);
        var manager = Manager();
        TtydSession? first;
        using (var parent = TestSource.StartActivity("test")!)
        {
            first = await manager.EnsureSessionAsync("node1", "alice-secret-id", "topo1", Ct);
            await manager.EnsureSessionAsync("node2", "alice-secret-id", null, Ct);
            lock (_h.Alive) { _h.Alive.Remove(first!.ProcessId); } // node1's ttyd dies: the next repair pass stops it
            await manager.RepairAsync(Ct);
            await manager.CleanupUserAsync("alice-secret-id", Ct);
            parent.Stop();

            var creates = Traced(parent, TtydPortsActivities.CreateName);
            var create = Assert.Single(creates, a => (string?)a.GetTagItem("ttydports.container") == "node1");
            Assert.Equal("topo1", create.GetTagItem("ttydports.topology"));
            Assert.Equal("created", create.GetTagItem("ttydports.result"));
            Assert.Equal("port 8000", create.GetTagItem("ttydports.endpoint"));
            Assert.Equal(first.ProcessId, create.GetTagItem("ttydports.process.id"));
            Assert.Equal(ActivityStatusCode.Unset, create.Status);
            Assert.Null(Assert.Single(creates, a => (string?)a.GetTagItem("ttydports.container") == "node2").GetTagItem("ttydports.topology"));

            var repair = Assert.Single(Traced(parent, TtydPortsActivities.RepairName));
            Assert.Equal(1, repair.GetTagItem("ttydports.repair.stopped"));
            Assert.Equal(0, repair.GetTagItem("ttydports.repair.failed"));

            var stops = Traced(parent, TtydPortsActivities.StopName);
            Assert.Equal(2, stops.Count);
            var dead = Assert.Single(stops, a => (string?)a.GetTagItem("ttydports.stop.reason") == "dead");
            Assert.Equal("node1", dead.GetTagItem("ttydports.container"));
            Assert.Equal(repair.SpanId, dead.ParentSpanId); // the pass's stops are its children
            var byUser = Assert.Single(stops, a => (string?)a.GetTagItem("ttydports.stop.reason") == "user");
            Assert.Equal("node2", byUser.GetTagItem("ttydports.container"));

            // The user id went into the calls above, and into no trace.
            var all = _stopped.Where(a => a.TraceId == parent.TraceId && a.Source.Name == TtydPortsActivities.SourceName).ToList();
            Assert.Equal(5, all.Count);
            Assert.All(all, a => Assert.All(a.TagObjects, t => Assert.DoesNotContain("alice", t.Value?.ToString() ?? "", StringComparison.Ordinal)));
            Assert.All(all, a => Assert.All(a.TagObjects, t => Assert.StartsWith("ttydports.", t.Key, StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task A_failed_create_has_an_error_status_and_the_exception_type_a_good_one_none()
    {
        _h.Runtime.Setup(i => i.GetContainerAsync("ghost", It.IsAny<CancellationToken>())).ReturnsAsync((ContainerInfo?)null);
        var manager = Manager();
        using var parent = TestSource.StartActivity("test")!;

        await Assert.ThrowsAsync<ContainerNotFoundException>(() => manager.EnsureSessionAsync("ghost", "alice", null, Ct).AsTask());
        await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        parent.Stop();

        var creates = Traced(parent, TtydPortsActivities.CreateName);
        var failed = Assert.Single(creates, a => (string?)a.GetTagItem("ttydports.container") == "ghost");
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal(typeof(ContainerNotFoundException).FullName, failed.GetTagItem("error.type"));
        Assert.Contains(failed.Events, e => e.Name == "exception");
        var good = Assert.Single(creates, a => (string?)a.GetTagItem("ttydports.container") == "node1");
        Assert.Equal(ActivityStatusCode.Unset, good.Status);
        Assert.Null(good.GetTagItem("error.type"));
    }

    [Fact]
    public void The_start_duration_histogram_advises_buckets_from_milliseconds_to_the_start_timeout()
    {
        Histogram<double>? histogram = null;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument is Histogram<double> { Name: "ttydports.session.start.duration" } h && instrument.Meter.Name == "TtydPorts")
                {
                    histogram = h;
                }
            },
        };
        listener.Start();
        using var metrics = new TtydPortsMetrics(null, () => 0, () => 0);

        Assert.NotNull(histogram);
        Assert.Equal("s", histogram.Unit);
        var buckets = histogram.Advice?.HistogramBucketBoundaries;
        Assert.NotNull(buckets);
        Assert.Equal(buckets.Order(), buckets); // ascending, as OpenTelemetry requires
        Assert.True(buckets[0] <= 0.005, $"first bucket {buckets[0]} s is too coarse for a start of a few milliseconds");
        Assert.Contains(buckets, b => b is > 0.005 and < 0.1); // several buckets below 100 ms, where healthy starts land
        Assert.True(buckets.Count(b => b < 0.1) >= 4);
        Assert.True(buckets[^1] >= new TtydSessionOptions().StartTimeout.TotalSeconds);
    }

    [Fact]
    public async Task In_proxy_mode_log_messages_name_the_socket_never_port_0_and_say_no_topology_instead_of_null()
    {
        _h.Options.ListenMode = TtydListenMode.UnixSocket;
        _h.Options.BasePath = "/terminals";
        var manager = Manager();

        var session = await manager.EnsureSessionAsync("node1", "alice", null, Ct);
        await manager.EnsureSessionAsync("node1", "alice", null, Ct); // no socket file here: not listening, replaced
        await manager.CleanupAllAsync(Ct);

        var messages = _logs.Collector.GetSnapshot().Select(r => r.Message).ToList();
        Assert.Contains(messages, m => m.StartsWith("Started ttyd for container node1 on socket " + session!.SocketPath, StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Stopped ttyd for container node1 on socket ", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.StartsWith("Not reusing the session of container node1 on socket ", StringComparison.Ordinal));
        Assert.Contains(messages, m => m.Contains("no topology", StringComparison.Ordinal));
        Assert.All(messages, m => Assert.DoesNotContain("port 0", m, StringComparison.Ordinal));
        Assert.All(messages, m => Assert.DoesNotMatch(@"\bports?\b", m)); // the runtime folder's name "ttydports-..." is fine
        Assert.All(messages, m => Assert.DoesNotContain("(null)", m, StringComparison.Ordinal));
    }

    [Fact]
    public async Task In_tcp_mode_log_messages_name_the_port_and_reuse_is_logged_at_debug()
    {
        var manager = Manager();

        await manager.EnsureSessionAsync("node1", "alice", "topo1", Ct);
        await manager.EnsureSessionAsync("node1", "alice", "topo1", Ct);
        await manager.DeleteNodeAsync("node1", Ct);

        var records = _logs.Collector.GetSnapshot();
        Assert.Contains(records, r => r.Message == "Started ttyd for container node1 on port 8000 (pid 1000, user alice, topology topo1).");
        var reused = Assert.Single(records, r => r.Id.Id == 41);
        Assert.Equal(LogLevel.Debug, reused.Level);
        Assert.Equal("Reusing the session of container node1 on port 8000 (pid 1000).", reused.Message);
        Assert.Contains(records, r => r.Message == "Stopped ttyd for container node1 on port 8000 (pid 1000, reason Node).");
        Assert.All(records, r => Assert.DoesNotContain("socket", r.Message, StringComparison.Ordinal));
    }
}
