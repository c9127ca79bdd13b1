namespace TtydPorts.Tool.Machine;

/// <summary>Owner, group and mode bits of one file or folder.</summary>
internal readonly record struct FilePermissions(uint Uid, uint Gid, uint Mode)
{
    public const uint Search = 1, Write = 2;

    /// <summary>
    /// Whether a process of <paramref name="uid"/> with <paramref name="groups"/> has <paramref name="access"/> here, by the
    /// one class of bits Unix applies: the owner's, else the group's, else the others'. ACLs are not read.
    /// </summary>
    public bool Grants(uint uid, IReadOnlySet<uint> groups, uint access)
    {
        var shift = uid == Uid ? 6 : groups.Contains(Gid) ? 3 : 0;
        return ((Mode >> shift) & access) == access;
    }
}

/// <summary>The Unix socket of the engine the tool talks to, links resolved, with every folder above it.</summary>
/// <param name="Path">The socket's real path.</param>
/// <param name="Socket">The socket's owner, group and mode.</param>
/// <param name="Folders">The folders above it, nearest first.</param>
internal sealed record EngineSocket(string Path, FilePermissions Socket, IReadOnlyList<FilePermissions> Folders)
{
    /// <summary>Whether <paramref name="uid"/> with <paramref name="groups"/> can connect: search every folder on the way, write the socket.</summary>
    public bool Admits(uint uid, IReadOnlySet<uint> groups) =>
        uid == 0 || (Folders.All(f => f.Grants(uid, groups, FilePermissions.Search)) && Socket.Grants(uid, groups, FilePermissions.Write));

    public override string ToString() =>
        $"{Path} (uid {Socket.Uid}, gid {Socket.Gid}, mode {Convert.ToString(Socket.Mode & 0xFFF, 8)})";
}
