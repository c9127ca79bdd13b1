namespace TtydPorts;

/// <summary>What a manager tracks now. (The seed's wire-format figures are the ASP.NET Core package's business.)</summary>
public sealed record TtydStatus
{
    /// <summary>Every tracked session, ordered by container name.</summary>
    public IReadOnlyList<TtydSessionStatus> Sessions { get; init; } = [];

    /// <summary>Why the most recent start failed, until a start succeeds again (e.g. a missing ttyd binary).</summary>
    public string? LastError { get; init; }

    /// <summary>Sessions that can be handed out now.</summary>
    public int ActiveSessions => Sessions.Count(s => s.Healthy);

    /// <summary>Names of the containers that have a session.</summary>
    public IReadOnlyList<string> Containers => [.. Sessions.Select(s => s.Session.Container)];
}

/// <summary>One session in <see cref="TtydStatus"/>.</summary>
public sealed record TtydSessionStatus
{
    /// <summary>The session.</summary>
    public required TtydSession Session { get; init; }

    /// <summary>Whether it can be handed out: alive, the same process, not stopped, listening, bound to its container.</summary>
    public bool Healthy { get; init; }
}
