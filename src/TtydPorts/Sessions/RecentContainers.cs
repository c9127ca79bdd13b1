using System.Collections.Concurrent;
using System.Collections.Frozen;

namespace TtydPorts;

/// <summary>
/// The engine's latest answer for each container name (the manager's lookups, the repair pass's listing, and names the
/// engine's events report started), kept as a guess and never as an answer: a create with a guess prepares its start for
/// that container while the engine is asked again, and keeps it only when the engine's answer names the same running
/// container (<see cref="Confirms"/>). In socket mode ttyd itself is started on the guess: until the answer nobody can
/// make it run its command (its socket is in the private folder), so a wrong guess costs a ttyd that is stopped, never a
/// shell in the wrong container.
/// </summary>
internal sealed class RecentContainers
{
    // A guess only saves time; past this many names the oldest answers are not worth a structure that ages them.
    private const int Capacity = 16384;

    private readonly ConcurrentDictionary<string, Entry> _byName = new(StringComparer.Ordinal);

    // When each id was last dropped (stopped, paused, renamed) on this clock, or long.MaxValue once removed: an answer or a
    // list asked for before that, recorded after it, must not bring the guess back (bounded like the guesses).
    private readonly ConcurrentDictionary<string, long> _droppedAt = new(StringComparer.Ordinal);
    private long _clock;

    private sealed record Entry(ContainerInfo Info, long At);

    /// <summary>A moment on this clock: read it before asking the engine, and pass it with the answer.</summary>
    public long Now => Interlocked.Increment(ref _clock);

    /// <summary>The running container last seen under <paramref name="name"/>, or null.</summary>
    public ContainerInfo? Guess(string name) => _byName.TryGetValue(name, out var entry) ? entry.Info : null;

    /// <summary>
    /// Records the engine's answer for <paramref name="name"/>, asked for at <paramref name="asked"/>: a running container
    /// with a valid id becomes the guess, unless its id was dropped since; anything else drops the name's guess, unless a
    /// newer answer is there.
    /// </summary>
    public void Record(string name, ContainerInfo? info, long asked)
    {
        if (info is { IsRunning: true } && string.Equals(info.Name, name, StringComparison.Ordinal) && SessionIds.IsValidContainerId(info.Id))
        {
            if (DroppedSince(info.Id, asked))
            {
                return;
            }

            // Count takes every lock of the dictionary: asked only for a name not there yet.
            if (!_byName.ContainsKey(name) && _byName.Count >= Capacity)
            {
                _byName.Clear();
            }

            // A copy of the labels: an inventory of the host's own might change its dictionary after answering, and the
            // answer that must confirm this guess is compared with what the command was chosen from.
            var entry = new Entry(info with { Labels = new Dictionary<string, string>(info.Labels ?? FrozenDictionary<string, string>.Empty, StringComparer.Ordinal) }, Now);
            _byName[name] = entry;

            // A drop between the check above and the store: either its scan sees the entry, or this check sees the drop.
            if (DroppedSince(info.Id, asked))
            {
                _byName.TryRemove(KeyValuePair.Create(name, entry));
            }
        }
        else
        {
            RemoveIfOlder(name, asked);
        }
    }

    /// <summary>
    /// Records a list of the engine's containers asked for at <paramref name="asked"/> (the repair pass's, at start and
    /// then periodically), so that a container's first create has a guess too; names the list does not show as running
    /// are dropped, unless recorded since.
    /// </summary>
    public void RecordAll(IReadOnlyList<ContainerInfo> containers, long asked)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var container in containers)
        {
            Record(container.Name, container, asked);
            listed.Add(container.Name);
        }

        foreach (var name in _byName.Keys)
        {
            if (!listed.Contains(name))
            {
                RemoveIfOlder(name, asked);
            }
        }
    }

    /// <summary>Drops every guess for the container with <paramref name="containerId"/> for good (the engine removed it).</summary>
    public void Forget(string containerId) => Drop(containerId, long.MaxValue);

    /// <summary>
    /// Drops every guess for the container with <paramref name="containerId"/> (it stopped, paused or took another name);
    /// only an answer asked for after this brings it back.
    /// </summary>
    public void Drop(string containerId) => Drop(containerId, Now);

    private void Drop(string containerId, long at)
    {
        if (!_droppedAt.ContainsKey(containerId) && _droppedAt.Count >= Capacity)
        {
            _droppedAt.Clear();
        }

        _droppedAt.AddOrUpdate(containerId, at, (_, earlier) => Math.Max(earlier, at));
        foreach (var (name, entry) in _byName)
        {
            if (string.Equals(entry.Info.Id, containerId, StringComparison.Ordinal))
            {
                _byName.TryRemove(KeyValuePair.Create(name, entry));
            }
        }
    }

    /// <summary>Whether the engine reported the container with <paramref name="containerId"/> removed.</summary>
    public bool WasRemoved(string containerId) => _droppedAt.TryGetValue(containerId, out var dropped) && dropped == long.MaxValue;

    private bool DroppedSince(string containerId, long asked) => _droppedAt.TryGetValue(containerId, out var dropped) && dropped > asked;

    private void RemoveIfOlder(string name, long asked)
    {
        if (_byName.TryGetValue(name, out var entry) && entry.At < asked)
        {
            _byName.TryRemove(KeyValuePair.Create(name, entry));
        }
    }

    /// <summary>
    /// Whether the engine's <paramref name="answer"/> is the <paramref name="guess"/>'s container, still running, with the
    /// same labels (an engine never changes a container's labels, but an inventory of the host's own might, and the
    /// labels chose the command).
    /// </summary>
    public static bool Confirms(ContainerInfo guess, ContainerInfo? answer) =>
        answer is { IsRunning: true }
        && string.Equals(answer.Id, guess.Id, StringComparison.Ordinal)
        && string.Equals(answer.Name, guess.Name, StringComparison.Ordinal)
        && (answer.Labels ?? FrozenDictionary<string, string>.Empty) is var labels
        && labels.Count == guess.Labels.Count
        && labels.All(l => guess.Labels.TryGetValue(l.Key, out var value) && string.Equals(value, l.Value, StringComparison.Ordinal));
}
