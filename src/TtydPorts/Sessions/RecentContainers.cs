using System.Collections.Concurrent;
using System.Collections.Frozen;

namespace TtydPorts;

/// <summary>
/// The engine's latest answer for each container name the manager asked about, kept as a guess and never as an answer:
/// a create with a guess starts ttyd for that container while the engine is asked again, and keeps the terminal only
/// when the engine's answer names the same running container (<see cref="Confirms"/>). Only in socket mode: until then
/// nobody can make ttyd run its command (its socket is in the private folder), so a wrong guess costs a ttyd that is
/// stopped, never a shell in the wrong container.
/// </summary>
internal sealed class RecentContainers
{
    // A guess only saves time; past this many names the oldest answers are not worth a structure that ages them.
    private const int Capacity = 16384;

    private readonly ConcurrentDictionary<string, ContainerInfo> _byName = new(StringComparer.Ordinal);

    // Ids the engine reported removed: an answer or a list taken before the removal, recorded after it, must not bring the
    // guess back (ids are never reused, so this only grows; bounded like the guesses).
    private readonly ConcurrentDictionary<string, bool> _removed = new(StringComparer.Ordinal);

    /// <summary>The running container last seen under <paramref name="name"/>, or null.</summary>
    public ContainerInfo? Guess(string name) => _byName.TryGetValue(name, out var info) ? info : null;

    /// <summary>Records the engine's answer for <paramref name="name"/>: a running container with a valid id, else nothing.</summary>
    public void Record(string name, ContainerInfo? info)
    {
        if (info is { IsRunning: true } && string.Equals(info.Name, name, StringComparison.Ordinal) && SessionIds.IsValidContainerId(info.Id)
            && !_removed.ContainsKey(info.Id))
        {
            // Count takes every lock of the dictionary: asked only for a name not there yet.
            if (!_byName.ContainsKey(name) && _byName.Count >= Capacity)
            {
                _byName.Clear();
            }

            // A copy of the labels: an inventory of the host's own might change its dictionary after answering, and the
            // answer that must confirm this guess is compared with what the command was chosen from.
            _byName[name] = info with { Labels = new Dictionary<string, string>(info.Labels ?? FrozenDictionary<string, string>.Empty, StringComparer.Ordinal) };
        }
        else
        {
            _byName.TryRemove(name, out _);
        }
    }

    /// <summary>
    /// Records a list of the engine's containers (the repair pass's, at start and then periodically), so that a container's
    /// first create has a guess too; names the list does not show as running are dropped.
    /// </summary>
    public void RecordAll(IReadOnlyList<ContainerInfo> containers)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var container in containers)
        {
            Record(container.Name, container);
            listed.Add(container.Name);
        }

        foreach (var name in _byName.Keys)
        {
            if (!listed.Contains(name))
            {
                _byName.TryRemove(name, out _);
            }
        }
    }

    /// <summary>Drops every guess for the container with <paramref name="containerId"/> for good (the engine removed it).</summary>
    public void Forget(string containerId)
    {
        if (_removed.Count >= Capacity)
        {
            _removed.Clear();
        }

        _removed[containerId] = true;
        Drop(containerId);
    }

    /// <summary>
    /// Drops every guess for the container with <paramref name="containerId"/> (it stopped, paused or took another name);
    /// a later answer may bring it back.
    /// </summary>
    public void Drop(string containerId)
    {
        foreach (var (name, info) in _byName)
        {
            if (string.Equals(info.Id, containerId, StringComparison.Ordinal))
            {
                _byName.TryRemove(KeyValuePair.Create(name, info));
            }
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
