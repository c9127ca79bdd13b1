using System.Security.Cryptography;

namespace TtydPorts;

/// <summary>
/// A manager's instance key, kept in memory for the manager's lifetime once read from (or created in) its runtime folder.
/// The file can go while the manager runs (systemd clears <c>/run/user/UID</c> when that user's last login ends, an
/// operator deletes the folder): the sessions this manager signed are still verified, found and stopped with the key it
/// holds. A start checks the folder as at the first (creating it 0700 if it is gone) and writes the key back from memory
/// if its file is missing, so a later run can adopt the sessions. A file that meanwhile holds another key (the folder
/// was recreated, someone else started first) is never overwritten and never used: the key in memory stays the one of
/// this manager's sessions, and nothing signed with the other key is taken as this manager's.
/// </summary>
internal sealed class InstanceKey(RuntimeFolder folder, string instanceName)
{
    private byte[]? _key;
    private byte[]? _reportedForeign;

    /// <summary>The key this manager signs and verifies its sessions' markers with; null until it has read or created one.</summary>
    public byte[]? Current => Volatile.Read(ref _key);

    /// <summary>
    /// The key to sign a new session with when <paramref name="onFile"/> is what the folder's key file held moments ago
    /// (read after the folder passed its check): the key in memory when it is that one, or the file's when none is held
    /// yet (it then becomes this manager's). Null when the file holds another key: call <see cref="ForStart"/>.
    /// </summary>
    public byte[]? Accept(byte[] onFile)
    {
        var current = Interlocked.CompareExchange(ref _key, onFile, null) ?? onFile;
        return CryptographicOperations.FixedTimeEquals(current, onFile) ? current : null;
    }

    /// <summary>
    /// The key to sign a new session with, after the folder passed its check (created 0700 when missing): the one in
    /// memory, written back to its file when that is missing; before any, the file's, created when there is none.
    /// </summary>
    /// <param name="foreign">Told the file's path when it holds another key than the one in memory (once per such key).</param>
    /// <exception cref="InvalidOperationException">The folder cannot be trusted.</exception>
    /// <exception cref="IOException">The key file cannot be read or written.</exception>
    public byte[] ForStart(Action<string> foreign)
    {
        var current = Current;
        var onFile = folder.GetOrCreateKey(instanceName, current);
        if (current is null)
        {
            return Interlocked.CompareExchange(ref _key, onFile, null) ?? onFile;
        }

        if (!CryptographicOperations.FixedTimeEquals(current, onFile)
            && (Volatile.Read(ref _reportedForeign) is not { } reported || !CryptographicOperations.FixedTimeEquals(reported, onFile)))
        {
            Volatile.Write(ref _reportedForeign, onFile);
            foreign(folder.KeyPath(instanceName));
        }

        return current;
    }

    /// <summary>Takes <paramref name="adopted"/>, read from the file when the manager adopted its earlier run's sessions, unless a key is held already.</summary>
    public void Remember(byte[] adopted) => Interlocked.CompareExchange(ref _key, adopted, null);
}
