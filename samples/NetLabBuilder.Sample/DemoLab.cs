using System.Diagnostics;
using Microsoft.Extensions.Options;
using TtydPorts;

namespace NetLabBuilder.Sample;

/// <summary>A node of a topology as the lab sees it.</summary>
public sealed record LabNode(string Container, string UserId, string TopologyId, string Node, string State);

/// <summary>
/// The NetLabBuilder side of the flow: creates busybox "routers" for a user's topology with the docker client, finds them
/// through the library's <see cref="IContainerInventory"/>, and asks the library to stop their terminals before it removes
/// them. Every container carries the labels <c>netlab.lab</c>, <c>netlab.user</c>, <c>netlab.topology</c>, <c>netlab.node</c>.
/// </summary>
public sealed partial class DemoLab(
    IOptions<LabOptions> options,
    IOptions<TtydSessionOptions> ttydOptions,
    IContainerInventory inventory,
    ITtydSessionManager terminals,
    TimeProvider time,
    ILogger<DemoLab> logger)
{
    public const string LabLabel = "netlab.lab";
    public const string UserLabel = "netlab.user";
    public const string TopologyLabel = "netlab.topology";
    public const string NodeLabel = "netlab.node";

    private static readonly TimeSpan DockerTimeout = TimeSpan.FromSeconds(60);
    private readonly LabOptions _options = options.Value;
    private readonly Dictionary<string, int> _reservations = new(StringComparer.Ordinal);
    private readonly string _labId = options.Value.LabId ?? ttydOptions.Value.InstanceName;
    private readonly string _docker = options.Value.DockerPath ?? ttydOptions.Value.DockerPath;

    /// <summary>Creates a topology of <paramref name="nodeCount"/> running nodes for <paramref name="userId"/>.</summary>
    public async Task<(string TopologyId, IReadOnlyList<string> Containers)> DeployAsync(
        string userId, int? nodeCount, CancellationToken cancellationToken, Action<int, int>? progress = null)
    {
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        var count = nodeCount ?? _options.NodesPerTopology;
        if (count is < 1 or > 8)
        {
            throw new ArgumentException($"nodes {count} is out of range: a topology has 1 to 8 nodes.", "nodes");
        }

        // The caps count nodes that exist and those deploys under way have reserved, so concurrent deploys cannot pass them.
        var nodes = await AllNodesAsync(cancellationToken).ConfigureAwait(false);
        lock (_reservations)
        {
            var mine = nodes.Count(n => n.UserId == userId) + _reservations.GetValueOrDefault(userId);
            var all = nodes.Count + _reservations.Values.Sum();
            if (mine + count > _options.MaxNodesPerUser)
            {
                throw new LabFullException($"User '{userId}' has {mine} node(s); {count} more would pass Lab:MaxNodesPerUser ({_options.MaxNodesPerUser}). Clear a topology first.");
            }

            if (all + count > _options.MaxNodes)
            {
                throw new LabFullException($"The lab has {all} node(s); {count} more would pass Lab:MaxNodes ({_options.MaxNodes}).");
            }

            _reservations[userId] = _reservations.GetValueOrDefault(userId) + count;
        }

        var topologyId = $"topo-{Guid.NewGuid():N}"[..13];
        var created = new List<string>();
        progress?.Invoke(0, count);
        try
        {
            for (var i = 1; i <= count; i++)
            {
                var name = $"{_options.ContainerPrefix}{topologyId}{_options.NodeNameSeparator}{i}";
                await DockerAsync(cancellationToken,
                    "run", "-d", "--name", name, "--hostname", name, "--network", "none",
                    "--label", _options.Label,
                    "--label", $"{LabLabel}={_labId}",
                    "--label", $"{UserLabel}={userId}",
                    "--label", $"{TopologyLabel}={topologyId}",
                    "--label", $"{NodeLabel}=r{i}",
                    _options.Image, "sleep", "infinity").ConfigureAwait(false);
                created.Add(name);
                progress?.Invoke(created.Count, count);
            }
        }
        catch
        {
            await RemoveContainersAsync(created).ConfigureAwait(false); // all or nothing
            throw;
        }
        finally
        {
            lock (_reservations)
            {
                // Created nodes are counted by the listing from now on (docker run returned).
                if ((_reservations[userId] -= count) == 0)
                {
                    _reservations.Remove(userId);
                }
            }
        }

        LogDeployed(logger, topologyId, userId, count);
        return (topologyId, created);
    }

    /// <summary>The user's nodes in this lab, sorted by name.</summary>
    public async Task<IReadOnlyList<LabNode>> NodesOfAsync(string userId, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        return [.. (await AllNodesAsync(cancellationToken).ConfigureAwait(false)).Where(n => n.UserId == userId)];
    }

    /// <summary>Stops the node's terminal (<see cref="ITtydSessionManager.DeleteNodeAsync"/>), then removes the container.</summary>
    /// <exception cref="ContainerNotFoundException">The user has no such node.</exception>
    public async Task<CleanupResult> DeleteNodeAsync(string userId, string container, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        SessionIds.ThrowIfInvalidContainerName(container, "container");
        var node = (await NodesOfAsync(userId, cancellationToken).ConfigureAwait(false)).FirstOrDefault(n => n.Container == container)
            ?? throw new ContainerNotFoundException(container, null, $"User '{userId}' has no node '{container}'.");
        var result = await terminals.DeleteNodeAsync(node.Container, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed(result);
        await RemoveContainersAsync([node.Container]).ConfigureAwait(false);
        return result;
    }

    /// <summary>Stops the topology's terminals (<see cref="ITtydSessionManager.ClearTopologyAsync"/>), then removes its containers.</summary>
    /// <exception cref="ContainerNotFoundException">The user has no such topology.</exception>
    public async Task<(CleanupResult Terminals, int Containers)> ClearTopologyAsync(string userId, string topologyId, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidId(userId, "user_id");
        SessionIds.ThrowIfInvalidId(topologyId, "topology_id");
        var nodes = (await NodesOfAsync(userId, cancellationToken).ConfigureAwait(false)).Where(n => n.TopologyId == topologyId).ToList();
        if (nodes.Count == 0)
        {
            // No container to name: the topology is what was not found.
            throw new ContainerNotFoundException(topologyId, null, $"User '{userId}' has no topology '{topologyId}'.");
        }

        var result = await terminals.ClearTopologyAsync(topologyId, cancellationToken).ConfigureAwait(false);
        ThrowIfFailed(result);
        await RemoveContainersAsync([.. nodes.Select(n => n.Container)]).ConfigureAwait(false);
        return (result, nodes.Count);
    }

    /// <summary>Clears every topology of this lab: terminals first, then containers. Called when the host stops.</summary>
    public async Task RemoveAllAsync(CancellationToken cancellationToken)
    {
        var nodes = await AllNodesAsync(cancellationToken).ConfigureAwait(false);
        foreach (var topology in nodes.Select(n => n.TopologyId).Distinct(StringComparer.Ordinal))
        {
            var result = await terminals.ClearTopologyAsync(topology, cancellationToken).ConfigureAwait(false);
            foreach (var failure in result.Failed)
            {
                LogStopFailed(logger, failure.Session.Container, failure.Error.Message);
            }
        }

        await RemoveContainersAsync([.. nodes.Select(n => n.Container)]).ConfigureAwait(false);
        LogRemovedAll(logger, nodes.Count, _labId);
    }

    /// <summary>What <c>netstat -rn</c> prints inside a running node of this lab (its kernel routing table).</summary>
    /// <exception cref="ContainerNotFoundException">This lab has no such running node.</exception>
    public async Task<string> RoutingTableAsync(string container, CancellationToken cancellationToken)
    {
        SessionIds.ThrowIfInvalidContainerName(container, "container");
        _ = (await AllNodesAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(n => n.Container == container && n.State == "running")
            ?? throw new ContainerNotFoundException(container, null, $"No running node '{container}'.");
        return await DockerAsync(cancellationToken, "exec", container, "netstat", "-rn").ConfigureAwait(false);
    }

    /// <summary>Every node of this lab, of every user, sorted by name.</summary>
    public async Task<IReadOnlyList<LabNode>> AllNodesAsync(CancellationToken cancellationToken)
    {
        var containers = await inventory.ListContainersAsync(cancellationToken).ConfigureAwait(false);
        return [.. containers
            .Where(c => c.Labels.TryGetValue(LabLabel, out var lab) && lab == _labId)
            .Select(c => new LabNode(c.Name, c.Labels.GetValueOrDefault(UserLabel, ""), c.Labels.GetValueOrDefault(TopologyLabel, ""), c.Labels.GetValueOrDefault(NodeLabel, c.Name), c.State))
            .Where(n => SessionIds.IsValidId(n.UserId) && SessionIds.IsValidId(n.TopologyId))
            .OrderBy(n => n.Container, StringComparer.Ordinal)];
    }

    private async Task RemoveContainersAsync(IReadOnlyList<string> containers)
    {
        // Not cancellable: a half-done removal would leave containers behind. One at a time: Docker 20.10 can deadlock
        // when containers leave a network concurrently (moby#46661), as one `rm -f` of several does.
        foreach (var container in containers)
        {
            await DockerAsync(CancellationToken.None, ["rm", "-f", container]).ConfigureAwait(false);
        }
    }

    private static void ThrowIfFailed(CleanupResult result)
    {
        if (!result.Succeeded)
        {
            throw new TtydPortsException(
                "Terminal could not be stopped, so the container was kept: " +
                string.Join("; ", result.Failed.Select(f => $"'{f.Session.Container}': {f.Error.Message}")));
        }
    }

    private async Task<string> DockerAsync(CancellationToken cancellationToken, params string[] arguments)
    {
        var start = new ProcessStartInfo(_docker) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var begun = time.GetTimestamp();
        using var process = Process.Start(start) ?? throw new ContainerEngineException($"Could not start '{_docker}'.");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DockerTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new ContainerEngineException($"docker {arguments[0]} did not finish within {DockerTimeout.TotalSeconds:0} s.");
        }

        var output = await stdout.ConfigureAwait(false);
        var errors = await stderr.ConfigureAwait(false);
        LogDocker(logger, arguments[0], process.ExitCode, time.GetElapsedTime(begun).TotalMilliseconds);
        if (process.ExitCode != 0)
        {
            throw new ContainerEngineException($"docker {arguments[0]} failed (exit {process.ExitCode}): {(output + errors).Trim()}");
        }

        return output;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Deployed topology {TopologyId} for user {UserId} with {Count} node(s)")]
    private static partial void LogDeployed(ILogger logger, string topologyId, string userId, int count);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Removed {Count} container(s) of lab {LabId}")]
    private static partial void LogRemovedAll(ILogger logger, int count, string labId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Terminal of {Container} could not be stopped: {Error}")]
    private static partial void LogStopFailed(ILogger logger, string container, string error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "docker {Command} exited {ExitCode} after {Milliseconds:0} ms")]
    private static partial void LogDocker(ILogger logger, string command, int exitCode, double milliseconds);
}
