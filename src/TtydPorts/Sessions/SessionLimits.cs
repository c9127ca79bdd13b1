namespace TtydPorts;

/// <summary>
/// Counts sessions, in all and per user, and refuses one over <see cref="TtydSessionOptions.MaxSessions"/> or
/// <see cref="TtydSessionOptions.MaxSessionsPerUser"/>. A reservation is taken before a start and given back when the
/// start fails or the session stops; an adopted session is counted without a check (it already runs).
/// </summary>
internal sealed class SessionLimits(int maxSessions, int maxSessionsPerUser)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _perUser = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>Sessions counted now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Counts a new session of <paramref name="userId"/>, or throws when a limit is reached.</summary>
    /// <exception cref="SessionLimitExceededException">A limit is reached; nothing was counted.</exception>
    public void Reserve(string userId, string container)
    {
        lock (_lock)
        {
            if (maxSessions > 0 && _count >= maxSessions)
            {
                throw new SessionLimitExceededException(SessionLimitScope.Global, maxSessions, userId, container);
            }

            var mine = _perUser.GetValueOrDefault(userId);
            if (maxSessionsPerUser > 0 && mine >= maxSessionsPerUser)
            {
                throw new SessionLimitExceededException(SessionLimitScope.User, maxSessionsPerUser, userId, container);
            }

            _perUser[userId] = mine + 1;
            _count++;
        }
    }

    /// <summary>Counts a session that already runs (adopted), whatever the limits say.</summary>
    public void Add(string userId)
    {
        lock (_lock)
        {
            _perUser[userId] = _perUser.GetValueOrDefault(userId) + 1;
            _count++;
        }
    }

    /// <summary>Gives a reservation of <paramref name="userId"/> back.</summary>
    public void Release(string userId)
    {
        lock (_lock)
        {
            if (_perUser.TryGetValue(userId, out var mine))
            {
                if (mine <= 1)
                {
                    _perUser.Remove(userId);
                }
                else
                {
                    _perUser[userId] = mine - 1;
                }
            }

            _count--;
        }
    }
}
