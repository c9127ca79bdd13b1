using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace TtydPorts;

/// <summary>
/// Runs <see cref="ITtydSessionManager.RepairAsync"/> every <see cref="TtydSessionOptions.RepairInterval"/>, and at
/// once when the container engine reports a container destroyed. Keeps the manager's guesses of which container a name
/// means current from the same event stream (<see cref="IContainerGuesses"/>). Adopts the sessions of an earlier run when it starts.
/// Stops every session on shutdown only when <see cref="TtydSessionOptions.StopSessionsOnShutdown"/> is set.
/// </summary>
internal sealed class TtydRepairService : BackgroundService
{
    private static readonly TimeSpan EventRetry = TimeSpan.FromSeconds(5);
    private const int LearnBacklog = 1024;
    private readonly ITtydSessionManager _manager;
    private readonly IContainerInventory _inventory;
    private readonly TtydSessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>Creates the service.</summary>
    public TtydRepairService(
        ITtydSessionManager manager,
        IContainerInventory inventory,
        IOptions<TtydSessionOptions> options,
        TimeProvider timeProvider,
        ILogger<TtydRepairService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(inventory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _manager = manager;
        _inventory = inventory;
        _options = options.Value;
        _time = timeProvider;
        _logger = logger ?? NullLogger<TtydRepairService>.Instance;
    }

    /// <summary>Adopts what an earlier run left, before the host goes on starting (and serving requests).</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await _manager.AdoptAsync(cancellationToken).ConfigureAwait(false);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var changes = _inventory as IContainerChangeSource;
        var removals = _inventory as IContainerEventSource;
        var events = changes is not null || removals is not null ? WatchAsync(removals, changes, stoppingToken) : Task.CompletedTask;
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // The first pass runs at once: it stops at once what the adoption at start cannot hand out (dead, frozen, or unfit for today's options, such as a port session after a switch to proxy mode).
                if (!first)
                {
                    await _wake.WaitAsync(_options.RepairInterval, _time, stoppingToken).ConfigureAwait(false);
                }

                first = false;
                await _manager.RepairAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // A failed pass must not end repair for good; the next pass tries again.
            catch (Exception e)
#pragma warning restore CA1031
            {
                Log.RepairFailed(_logger, e);
            }
        }

        await events.ConfigureAwait(false);
    }

    private async Task WatchAsync(IContainerEventSource? removals, IContainerChangeSource? changes, CancellationToken stoppingToken)
    {
        // Names reported started or renamed, asked about one at a time off the event loop: a removal must never wait behind
        // a lab's worth of inspects, and a burst of starts must not become a burst of concurrent calls to the engine. An
        // engine that reports faster than it answers loses the oldest names: a guess only saves time.
        var learn = Channel.CreateBounded<string>(new BoundedChannelOptions(LearnBacklog) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest });
        var guesses = changes is not null ? _manager as IContainerGuesses : null;
        var learning = guesses is not null ? LearnAsync(guesses, learn.Reader, stoppingToken) : Task.CompletedTask;
        try
        {
            await FollowAsync(removals, changes, guesses, learn.Writer, stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            learn.Writer.TryComplete();
            await learning.ConfigureAwait(false);
        }
    }

    private async Task FollowAsync(IContainerEventSource? removals, IContainerChangeSource? changes, IContainerGuesses? guesses, ChannelWriter<string> learn, CancellationToken stoppingToken)
    {
        // Where a new subscription resumes: the time of the last event or subscription seen (the engine's clock), so that
        // nothing reported while the stream was down is lost. A host's own removal source has no such point.
        long? since = null;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Docker sends nothing while idle: an engine's stream without an event for QuietLimit is opened again, in case
            // it died where keepalive cannot tell (EngineLiveness). Each event puts that moment off.
            using var quiet = changes is not null ? new CancellationTokenSource(EngineLiveness.QuietLimit, _time) : new CancellationTokenSource();
            using var watch = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, quiet.Token);
            try
            {
                var stream = changes is not null ? changes.WatchChangesAsync(since, watch.Token)
                    : Removals(removals!.WatchRemovedContainersAsync(watch.Token), watch.Token);
                await foreach (var change in stream.ConfigureAwait(false))
                {
                    if (changes is not null)
                    {
                        quiet.CancelAfter(EngineLiveness.QuietLimit);
                    }

                    // Only events move the point forward; a subscription's time only starts it. On a resume the subscription
                    // comes before the replay of what happened while none was open: taking its time would lose the rest
                    // of that replay if the stream broke again during it (a replayed event again is harmless).
                    if (change.Kind == ContainerEventKind.Subscribed ? since is null : change.TimeNano > (since ?? 0))
                    {
                        since = change.TimeNano;
                    }

                    if (change.Kind == ContainerEventKind.Subscribed)
                    {
                        if (failures > 0)
                        {
                            Log.EventsResumed(_logger, failures);
                            failures = 0;
                        }

                        continue;
                    }

                    if (_logger.IsEnabled(LogLevel.Debug))
                    {
                        Log.ContainerChanged(_logger, change.Name, change.Id, change.Kind);
                    }

                    switch (change.Kind)
                    {
                        case ContainerEventKind.Removed:
                            // Stale at once, so that no reuse hands the session out while the pass below runs.
                            _manager.MarkContainerRemoved(change.Id);
                            if (_wake.CurrentCount == 0)
                            {
                                _wake.Release();
                            }

                            break;
                        case ContainerEventKind.Running:
                            // A rename leaves the old name's guess wrong (Podman does not say the old name): dropped by id.
                            guesses?.Drop(change.Id);
                            learn.TryWrite(change.Name);
                            break;
                        case ContainerEventKind.Stopped:
                            guesses?.Drop(change.Id);
                            break;
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (OperationCanceledException) when (quiet.IsCancellationRequested)
            {
                Log.EventsQuiet(_logger, EngineLiveness.QuietLimit);
            }
            catch (ContainerEngineException e)
            {
                failures++;
                Log.EventsUnavailable(_logger, e.Message);
                try
                {
                    await Task.Delay(EventRetry, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private static async IAsyncEnumerable<ContainerEvent> Removals(IAsyncEnumerable<ContainerInfo> removed, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var container in removed.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return new ContainerEvent(ContainerEventKind.Removed, container.Id, container.Name);
        }
    }

    // The engine's answer for each name reported started, kept as the guess for that container's first create. Best
    // effort: a create asks the engine anyway.
    private async Task LearnAsync(IContainerGuesses guesses, ChannelReader<string> names, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var name in names.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                if (!SessionIds.IsValidContainerName(name))
                {
                    continue; // no terminal can be asked for it
                }

                try
                {
                    var answer = await guesses.LearnAsync(name, stoppingToken).ConfigureAwait(false);
                    if (_logger.IsEnabled(LogLevel.Debug))
                    {
                        Log.GuessLearnt(_logger, name, answer is null ? "gone" : $"{answer.Id} ({answer.State})");
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // Best effort: whatever one name meets, the next names are still asked about.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    Log.GuessNotLearnt(_logger, name, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_options.StopSessionsOnShutdown)
        {
            try
            {
                await _manager.CleanupAllAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The host's shutdown timeout passed: the stops that had begun were finished (the manager logged the
                // rest, event 115), and the manager's disposal, which follows, stops what is left. Thrown on, the
                // cancellation would end the host's exit with an unhandled exception and a failed exit code.
            }
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}

internal static class SemaphoreExtensions
{
    // A wait that ends on a release or after the timeout, whichever comes first, on the given clock.
    public static async Task WaitAsync(this SemaphoreSlim semaphore, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, cts.Token);
        var wake = semaphore.WaitAsync(cts.Token);
        await Task.WhenAny(delay, wake).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await wake.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
