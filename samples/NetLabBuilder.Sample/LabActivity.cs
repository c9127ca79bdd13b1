using System.Collections.Concurrent;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>
/// What the page shows live: deploys in progress (one per user at a time) and terminals being started in the background,
/// so a poll answers at once with "starting" instead of waiting for ttyd, and a failed start says why.
/// </summary>
public sealed partial class LabActivity(ITtydSessionManager terminals, TimeProvider time, ILogger<LabActivity> logger)
{
    private static readonly TimeSpan RetryFailedAfter = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, DeployProgress> _deploys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _starting = new(StringComparer.Ordinal);
    // When a start failed: a timestamp (monotonic), so a wall clock set back (NTP, date -s) cannot hold off the retry for as long.
    private readonly ConcurrentDictionary<string, (string Reason, long At)> _failed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _removing = new(StringComparer.Ordinal);

    /// <summary>Claims the user's deploy slot; false while another deploy of the same user runs (a double click).</summary>
    public bool TryBeginDeploy(string userId) => _deploys.TryAdd(userId, new DeployProgress(0, 0));

    public void ReportDeploy(string userId, int created, int total) => _deploys[userId] = new DeployProgress(created, total);

    public void EndDeploy(string userId) => _deploys.TryRemove(userId, out _);

    public DeployProgress? DeployOf(string userId) => _deploys.GetValueOrDefault(userId);

    /// <summary>The node's terminal state; a running node without a terminal gets one started in the background (for its owner).</summary>
    public (string Terminal, string? Reason) TerminalOf(LabNode node)
    {
        if (node.State != "running")
        {
            return ("stopped", $"the node is {node.State}");
        }

        if (_removing.ContainsKey(node.Container))
        {
            return ("removing", null); // its terminal is being stopped: a poll now must not start a new one
        }

        if (terminals.FindSession(node.Container) is not null)
        {
            return ("ready", null);
        }

        if (_failed.TryGetValue(node.Container, out var failed))
        {
            if (time.GetElapsedTime(failed.At) < RetryFailedAfter)
            {
                return ("failed", failed.Reason);
            }

            _failed.TryRemove(node.Container, out _);
        }

        Start(node);
        return ("starting", null);
    }

    /// <summary>
    /// As <see cref="TerminalOf"/>, but waits for a start it finds under way (or begins), so that the answer is the
    /// outcome: <c>ready</c>, <c>failed</c> with its reason, <c>stopped</c> or <c>removing</c>.
    /// </summary>
    public async Task<(string Terminal, string? Reason)> WaitForTerminalAsync(LabNode node, CancellationToken cancellationToken)
    {
        var state = TerminalOf(node);
        // Twice at most: the start may have ended between the look and the wait; a second "starting" is a new attempt.
        for (var attempt = 0; attempt < 2 && state.Terminal == "starting"; attempt++)
        {
            if (_starting.TryGetValue(node.Container, out var start))
            {
                await start.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            state = TerminalOf(node);
        }

        return state;
    }

    /// <summary>
    /// Marks the containers as being removed (no terminal is started for them any more) and waits for a background start
    /// already under way, so a delete never races it. Dispose the result once they are gone.
    /// </summary>
    public async Task<IDisposable> BeginRemovalAsync(IReadOnlyList<string> containers)
    {
        foreach (var container in containers)
        {
            _removing.AddOrUpdate(container, 1, (_, n) => n + 1);
        }

        await Task.WhenAll(containers.Select(c => _starting.GetValueOrDefault(c) ?? Task.CompletedTask)).ConfigureAwait(false);
        return new Removal(this, containers);
    }

    /// <summary>Waits for every background start (host stop).</summary>
    public Task SettleAllAsync() => Task.WhenAll(_starting.Values);

    private void Start(LabNode node)
    {
        var gate = new TaskCompletionSource();
        if (!_starting.TryAdd(node.Container, gate.Task))
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                if (await terminals.EnsureSessionAsync(node.Container, node.UserId, node.TopologyId).ConfigureAwait(false) is null)
                {
                    _failed[node.Container] = ("no terminal slot is free", time.GetTimestamp());
                }
            }
            catch (Exception e) when (e is TtydPortsException or ArgumentException)
            {
                // The library's messages name the cause and never carry a credential.
                LogStartFailed(logger, node.Container, e.Message);
                _failed[node.Container] = (e.Message, time.GetTimestamp());
            }
            finally
            {
                _starting.TryRemove(node.Container, out _);
                gate.SetResult();
            }
        });
    }

    private sealed class Removal(LabActivity activity, IReadOnlyList<string> containers) : IDisposable
    {
        public void Dispose()
        {
            foreach (var container in containers)
            {
                if (activity._removing.AddOrUpdate(container, 0, (_, n) => n - 1) <= 0)
                {
                    activity._removing.TryRemove(container, out _);
                }

                activity._failed.TryRemove(container, out _);
            }
        }
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Terminal of {Container} could not be started: {Error}")]
    private static partial void LogStartFailed(ILogger logger, string container, string error);
}
