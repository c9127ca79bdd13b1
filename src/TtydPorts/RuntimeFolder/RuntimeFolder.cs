using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace TtydPorts;

/// <summary>
/// The one component that names and deletes the files of sessions: sockets, logs and the instance key. It trusts its
/// folder only when the folder is a real directory of the owner with mode 0700 and every folder above it is owned by
/// root or the owner and writable by nobody else (a world-writable folder counts only with the sticky bit, as
/// <c>/tmp</c> has it, since then nobody else can rename or replace what the owner put there). This is OpenSSH's
/// StrictModes rule; it is checked at every start and adoption, not once, because folders can change.
/// Checking and reading never change anything: only <see cref="Check"/> with <c>create</c>, which a manager calls on
/// its own configured folder before it starts a terminal, creates the folder or makes it 0700. A folder named by a
/// process's marker (<see cref="FromMarker"/>: any local user can put any path there) is only ever read, and files are
/// deleted in it only after a signature under its key proved the session.
/// </summary>
internal sealed partial class RuntimeFolder
{
    private const int KeyBytes = 32;
    private const ushort TypeMask = 0xF000, DirectoryType = 0x4000, SocketType = 0xC000, LinkType = 0xA000;
    private const ushort GroupOrOtherWrite = 0x12, Sticky = 0x200, RegularType = 0x8000, Private = 0x1C0;

    // As the kernel's own limit on links followed in one lookup: a chain longer than this, or a loop, is refused.
    private const int MaxLinks = 40;
    private const string SocketSuffix = ".sock", LogSuffix = ".log", TmuxSuffix = ".tmux", ObserverSuffix = ".watch.sock";

    public RuntimeFolder(string path, uint owner)
        : this(path, owner, "RuntimeDirectory", "terminal sockets and logs", "RuntimeDirectory or XDG_RUNTIME_DIR")
    {
    }

    // The same check guards other folders (recordings); its messages then name that folder's option and contents.
    private RuntimeFolder(string path, uint owner, string option, string contents, string hint, bool fromMarker = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        Owner = owner;
        _option = option;
        _contents = contents;
        _hint = hint;
        _fromMarker = fromMarker;
    }

    private readonly string _option, _contents, _hint;
    private readonly bool _fromMarker;

    /// <summary>
    /// The folder a process's <c>TTYDPORTS_RUNTIME</c> marker names, for <paramref name="owner"/>: checked and read only,
    /// never created or changed (<see cref="Check"/> with <c>create</c> throws). Call <see cref="MarkerProblem"/> first.
    /// </summary>
    public static RuntimeFolder FromMarker(string path, uint owner) =>
        MarkerProblem(path) is { } problem ? throw new ArgumentException(problem, nameof(path))
        : new(path, owner, "its runtime folder", "terminal sockets and logs", "RuntimeDirectory", fromMarker: true);

    /// <summary>
    /// Why <paramref name="path"/>, a runtime folder marker, names no folder: empty, not absolute, or not in canonical
    /// form (a <c>.</c> or <c>..</c> part, a doubled or final <c>/</c>), which the library never writes; null when it is fine.
    /// </summary>
    public static string? MarkerProblem(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "its runtime folder marker is empty";
        }

        if (path[0] != '/' || path.Contains('\0', StringComparison.Ordinal))
        {
            return $"its runtime folder marker {SessionIds.Quote(path)} is not an absolute path";
        }

        return path.Length > 4095 ? "its runtime folder marker is longer than a path can be"
            : (path.Length > 1 && path.EndsWith('/')) || !string.Equals(System.IO.Path.GetFullPath(path), path, StringComparison.Ordinal)
                ? $"its runtime folder marker {SessionIds.Quote(path)} is not a canonical path"
            : null;
    }

    /// <summary>The folder of terminal recordings (<see cref="TtydSessionOptions.RecordingDirectory"/>), checked as this folder is.</summary>
    public static RuntimeFolder ForRecordings(string path, uint owner) => new(path, owner, "RecordingDirectory", "terminal recordings", "RecordingDirectory");

    /// <summary>The folder, as configured (absolute).</summary>
    public string Path { get; }

    /// <summary>The OS user (uid) who owns the folder and the processes in it.</summary>
    public uint Owner { get; }

    /// <summary>Root's default folder without <c>XDG_RUNTIME_DIR</c>.</summary>
    public const string RootDefaultPath = "/run/ttydports";

    /// <summary>
    /// The default folder of this OS user: <c>$XDG_RUNTIME_DIR/ttydports</c>; for root <c>/run/ttydports</c>; else
    /// <c>$HOME/.ttydports</c> when the home folder is the user's own; only then <c>/tmp/ttydports-UID</c>, which another
    /// user can occupy first (refused loudly, never taken over).
    /// </summary>
    public static string DefaultPath()
    {
        var uid = Native.geteuid();
        var runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(runtime) && System.IO.Path.IsPathRooted(runtime))
        {
            return System.IO.Path.Combine(runtime, "ttydports");
        }

        if (uid == 0)
        {
            return RootDefaultPath;
        }

        var home = Environment.GetEnvironmentVariable("HOME");
        if (!string.IsNullOrEmpty(home) && System.IO.Path.IsPathRooted(home) && Native.LStat(home) is { } h
            && (h.Mode & TypeMask) == DirectoryType && h.Uid == uid && (h.Mode & GroupOrOtherWrite) == 0)
        {
            return System.IO.Path.Combine(home, ".ttydports");
        }

        return System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ttydports-{uid}");
    }

    /// <summary>
    /// Checks the folder and its parents; returns why it cannot be trusted, or null. Without <paramref name="create"/> it
    /// only reads (a folder whose mode is not 0700 is refused). With it, which only a manager asks for its own configured
    /// folder, a missing folder is created and one of the owner's own with another mode is made 0700.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="create"/> for a folder named by a marker.</exception>
    public string? Check(bool create)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("TtydPorts runs on Linux.");
        }

        if (create && _fromMarker)
        {
            throw new InvalidOperationException($"The runtime folder '{Path}' was named by a process's marker: it is only ever checked and read, never created or changed.");
        }

        // Parents first: nothing is created inside a folder that someone else controls.
        if (CheckParents() is { } parentProblem)
        {
            return parentProblem;
        }

        if (create && Native.LStat(Path) is null)
        {
            var parent = System.IO.Path.GetDirectoryName(Path);
            if (parent is not null && Native.LStat(parent) is null)
            {
                return $"{_option} '{Path}': its parent folder '{parent}' does not exist.";
            }

            // mkdir does not follow a link planted at the path; a folder created meanwhile by someone else fails below.
            try
            {
                Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"{_option} '{Path}' cannot be created: {e.Message}";
            }
        }

        var found = Native.LStat(Path);
        if (found is not { } stat)
        {
            return $"{_option} '{Path}' does not exist.";
        }

        if ((stat.Mode & TypeMask) != DirectoryType)
        {
            return $"{_option} '{Path}' is not a directory (a link or a file another user may have planted); refusing to keep {_contents} there. Remove it, or set {_hint} to a folder of uid {Owner}.";
        }

        if (stat.Uid != Owner)
        {
            return $"{_option} '{Path}' is owned by uid {stat.Uid}, not by uid {Owner}; refusing to keep {_contents} there (another user may have created it first). Remove it, or set {_hint} to a folder of uid {Owner}.";
        }

        if ((stat.Mode & 0x1FF) != Private)
        {
            // Only on the way to starting a terminal in the manager's own folder; a check or a read changes nothing.
            if (!create || Owner != Native.geteuid())
            {
                return $"{_option} '{Path}' has mode {Convert.ToString(stat.Mode & 0x1FF, 8)}, not 0700; refusing to trust it until it is 0700 again.";
            }

            // Through the folder held open (not followed if a link, then fstat: still a directory of ours), never the path again.
            using var folder = OpenChecked(requirePrivate: false);
            if (folder is null || !Native.FChmod(folder, Private))
            {
                return $"{_option} '{Path}' has mode {Convert.ToString(stat.Mode & 0x1FF, 8)}, not 0700, and cannot be made 0700.";
            }
        }

        return null;
    }

    /// <summary>Like <see cref="Check"/>, but throws <see cref="InvalidOperationException"/> with the reason.</summary>
    public void EnsureTrusted()
    {
        if (Check(create: true) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
    }

    private string? CheckParent(string dir, int links)
    {
        if (Native.LStat(dir) is not { } stat)
        {
            return $"{_option} '{Path}': '{dir}' cannot be read.";
        }

        if ((stat.Mode & TypeMask) == LinkType)
        {
            // A link above the folder is as safe as the link itself and where it leads (e.g. /var/run -> /run).
            if (stat.Uid != 0 && stat.Uid != Owner)
            {
                return $"{_option} '{Path}': '{dir}' is a link owned by uid {stat.Uid}; refusing a folder another user can redirect.";
            }

            if (links >= MaxLinks)
            {
                return $"{_option} '{Path}': '{dir}' is one link too many (more than {MaxLinks}, or a loop); refusing it.";
            }

            string? target;
            try
            {
                target = Directory.ResolveLinkTarget(dir, returnFinalTarget: true)?.FullName;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"{_option} '{Path}': the link '{dir}' cannot be followed ({e.Message}); refusing it.";
            }

            return target is null ? $"{_option} '{Path}': the link '{dir}' leads nowhere."
                : new RuntimeFolder(System.IO.Path.Combine(target, "x"), Owner, _option, _contents, _hint).CheckParents(links + 1);
        }

        if (stat.Uid != 0 && stat.Uid != Owner)
        {
            return $"{_option} '{Path}': the folder '{dir}' above it is owned by uid {stat.Uid}, who could replace it; refusing it.";
        }

        if ((stat.Mode & GroupOrOtherWrite) != 0 && (stat.Mode & Sticky) == 0)
        {
            return $"{_option} '{Path}': the folder '{dir}' above it is writable by other users (mode {Convert.ToString(stat.Mode & 0xFFF, 8)}), who could move what lies below it aside and put their own in its place; refusing it.";
        }

        return null;
    }

    /// <summary>
    /// Why the folders above <paramref name="path"/> cannot be trusted by uid <paramref name="owner"/>, by the rule this
    /// class applies above its own folder (each owned by root or the owner and writable by nobody else, a world-writable
    /// one only with the sticky bit; a link on the way the owner's or root's, its target checked the same way), or null.
    /// For files kept elsewhere that another user must not be able to replace, e.g. the TLS certificates of a remote engine.
    /// </summary>
    /// <param name="path">An absolute path.</param>
    /// <param name="owner">The user whose file it is (the running user).</param>
    /// <param name="what">How the messages name the path, e.g. <c>The TLS file</c>.</param>
    public static string? ProblemAbove(string path, uint owner, string what) => new RuntimeFolder(path, owner, what, "", "").CheckParents();

    private string? CheckParents(int links = 0)
    {
        for (var dir = System.IO.Path.GetDirectoryName(Path); dir is not null; dir = System.IO.Path.GetDirectoryName(dir))
        {
            if (CheckParent(dir, links) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>The socket of the session with <paramref name="token"/>.</summary>
    public string SocketPath(string token) => Name(token, SocketSuffix);

    /// <summary>The log (ttyd's output) of the session with <paramref name="token"/>.</summary>
    public string LogPath(string token) => Name(token, LogSuffix);

    /// <summary>The tmux server socket of the session with <paramref name="token"/> (persistent shells).</summary>
    public string TmuxSocketPath(string token) => Name(token, TmuxSuffix);

    /// <summary>The socket of the session's read-only observer ttyd (proxy mode with persistent shells).</summary>
    public string ObserverSocketPath(string token) => Name(token, ObserverSuffix);

    private string Name(string token, string suffix)
    {
        if (!SessionToken().IsMatch(token))
        {
            throw new ArgumentException($"Session token {SessionIds.Quote(token)} is not 32 lower-case hex digits.", nameof(token));
        }

        var path = System.IO.Path.Combine(Path, FileName(token, suffix));
        return suffix == LogSuffix || path.Length < 108 ? path
            : throw new InvalidOperationException($"The Unix socket path '{path}' is too long ({path.Length} bytes, at most 107); choose a shorter RuntimeDirectory.");
    }

    // A session file's name inside the folder (the token's first 24 digits and a suffix of ours): never a path.
    private static string FileName(string token, string suffix) => token[..24] + suffix;

    /// <summary>
    /// Creates a new recording file (mode 0600, never an existing file or a link) directly in this folder, after the
    /// folder passed its checks. Its name comes from the container, the start time and the token's first 8 digits, all
    /// validated, never a path from elsewhere. Nothing of this class ever deletes a recording.
    /// </summary>
    public FileStream CreateRecording(string container, DateTimeOffset startedAt, string token)
    {
        SessionIds.ThrowIfInvalidContainerName(container, nameof(container));
        if (!SessionToken().IsMatch(token))
        {
            throw new ArgumentException($"Session token {SessionIds.Quote(token)} is not 32 lower-case hex digits.", nameof(token));
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("TtydPorts runs on Linux.");
        }

        EnsureTrusted();
        var name = $"{container[..Math.Min(container.Length, 100)]}-{startedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture)}-{token[..8]}.cast";
        return new FileStream(System.IO.Path.Combine(Path, name), new FileStreamOptions
        {
            // O_CREAT|O_EXCL: a file or link already there fails, it is never appended to or followed.
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
    }

    /// <summary>Whether <paramref name="token"/> is a session token as the manager makes them (32 lower-case hex digits).</summary>
    public static bool IsToken(string token) => SessionToken().IsMatch(token);

    /// <summary>Whether a socket (not a link or a file) exists at <paramref name="path"/>.</summary>
    public static bool IsSocket(string path) => Native.LStat(path) is { } stat && (stat.Mode & TypeMask) == SocketType;

    /// <summary>
    /// Deletes the session's socket, log and the sockets of its tmux server and observer ttyd (never a recording). Only names this folder gives out are deleted, only directly inside it,
    /// only after the folder passed its checks; a name from anywhere else is refused.
    /// </summary>
    public void DeleteSessionFiles(string token, bool socket = true, bool log = true, bool terminal = true)
    {
        var suffixes = new List<string>(4);
        if (socket)
        {
            suffixes.Add(SocketSuffix);
        }

        if (terminal)
        {
            // tmux leaves its socket behind when its server ends.
            suffixes.AddRange([TmuxSuffix, ObserverSuffix]);
        }

        if (log)
        {
            suffixes.Add(LogSuffix);
        }

        Delete(token, suffixes);
    }

    /// <summary>Deletes the socket a dead observer ttyd left (ttyd does not bind over one), with the checks of <see cref="DeleteSessionFiles"/>.</summary>
    public void DeleteObserverSocket(string token) => Delete(token, [ObserverSuffix]);

    private void Delete(string token, List<string> suffixes)
    {
        if (suffixes.Count == 0 || !SessionToken().IsMatch(token) || Check(create: false) is not null || OpenChecked(requirePrivate: true) is not { } folder)
        {
            return;
        }

        using (folder)
        {
            foreach (var suffix in suffixes)
            {
                Native.UnlinkAt(folder, FileName(token, suffix));
            }
        }
    }

    /// <summary>
    /// The folder, held open for deleting or reading in it, when it is still a directory of the owner (and, with
    /// <paramref name="requirePrivate"/>, still 0700); else null. The check before looked at the path, which the owner
    /// (another user, when root runs the tool) can swap for a link to someone else's folder right after it: files are
    /// deleted (unlinkat) and the key is opened (openat) through this descriptor, never through the path again. The open
    /// does not follow a link, and a directory reached through a parent swapped meanwhile is refused unless it is the owner's.
    /// </summary>
    private SafeFd? OpenChecked(bool requirePrivate)
    {
        var folder = Native.OpenDirectory(Path);
        if (!folder.IsInvalid && Native.FStat(folder) is { } stat && (stat.Mode & TypeMask) == DirectoryType && stat.Uid == Owner
            && (!requirePrivate || (stat.Mode & 0x1FF) == Private))
        {
            return folder;
        }

        folder.Dispose();
        return null;
    }

    /// <summary>
    /// The instance's marker key (32 random bytes, mode 0600), created on first use. Only the owner and root can read
    /// it, so only they can make markers that <see cref="MarkerSignature"/> accepts. With <paramref name="missing"/>, a
    /// missing key file is written with that key (a manager's key in memory, after its folder was deleted) instead of a new one.
    /// </summary>
    public byte[] GetOrCreateKey(string instanceName, byte[]? missing = null)
    {
        EnsureTrusted();
        var path = KeyPath(instanceName);
        if (ReadKey(instanceName, out _) is { } existing)
        {
            return existing;
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("TtydPorts runs on Linux.");
        }

        // Written whole under a name of its own, then linked into place: the key's name never shows a file still being
        // written, which two first starts at once (one creating, one reading) would otherwise see as empty and fail on.
        // O_CREAT|O_EXCL for the new file, and link(2), which never replaces: nothing already there is taken over or
        // overwritten, a planted link included, and of two first starts at once exactly one key wins (File.Move checks
        // and then renames, so both could "win", and one would sign its session with a key that is not the file's).
        var key = missing is { Length: KeyBytes } ? missing : RandomNumberGenerator.GetBytes(KeyBytes);
        var fresh = System.IO.Path.Combine(Path, $"{instanceName}.key.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.new");
        var created = false;
        try
        {
            // Inside the try: a write that fails (a full filesystem says so only when the file is closed) must not leave
            // the empty file behind, at every start and repair pass until space is back.
            using (var file = new FileStream(fresh, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                created = true;
                file.Write(key);
            }

            if (Native.TryLink(fresh, path))
            {
                return key;
            }

            // Another start or manager of this instance made it first; a name taken by anything but a private key of the
            // owner is refused, as a read would.
            return ReadKey(instanceName, out var problem) ?? throw new IOException($"The instance key {path} exists and cannot be used ({problem}); no terminal starts.");
        }
        finally
        {
            if (created)
            {
                File.Delete(fresh);
            }
        }
    }

    /// <summary>The instance's key, or null when there is none or it is not a private file of the owner.</summary>
    public byte[]? ReadKey(string instanceName, bool byName) => byName ? ReadKey(instanceName, out _, checkFolder: true) : null;

    /// <summary>
    /// The instance's key after the folder passed its check (which only reads), or null with the reason in
    /// <paramref name="problem"/>: the folder cannot be trusted, or there is no key, or it is not a private key of the owner.
    /// </summary>
    public byte[]? TryReadKey(string instanceName, out string? problem) => ReadKey(instanceName, out problem, checkFolder: true);

    private byte[]? ReadKey(string instanceName, out string? problem, bool checkFolder = false)
    {
        var name = KeyPath(instanceName);
        if (checkFolder && Check(create: false) is { } folderProblem)
        {
            problem = folderProblem;
            return null;
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("TtydPorts runs on Linux.");
        }

        // Everything below goes through descriptors: the folder opened without following a link, the key named in it
        // with O_PATH (which opens nothing, so a FIFO or a device planted or swapped in there does nothing and cannot
        // block), checked with fstat, and only then opened for reading as that very file (never by its name again).
        using var folder = OpenChecked(requirePrivate: true);
        if (folder is null)
        {
            problem = $"the folder '{Path}' is no longer a 0700 directory of uid {Owner}";
            return null;
        }

        using var path = Native.OpenPathAt(folder, System.IO.Path.GetFileName(name));
        if (path.IsInvalid)
        {
            var error = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            problem = error == Native.ENOENT ? $"there is no instance key {name}"
                : $"the instance key {name} cannot be opened ({System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(error)})";
            return null;
        }

        if (KeyProblem(Native.FStatFile(path), name) is { } keyProblem)
        {
            problem = keyProblem;
            return null;
        }

        using var file = Native.ReopenForReading(path);
        var opened = file.IsInvalid ? null : Native.FStatFile(file);
        if (opened is not { } reopened || Native.FStatFile(path) is not { } named || reopened.Inode != named.Inode || reopened.Device != named.Device
            || KeyProblem(reopened, name) is not null)
        {
            problem = $"the instance key {name} cannot be opened for reading";
            return null;
        }

        // One byte more than a key: a file that grew meanwhile is refused, not cut.
        Span<byte> buffer = stackalloc byte[KeyBytes + 1];
        var total = 0;
        while (total < buffer.Length)
        {
            var read = Native.ReadRetrying(file, buffer[total..]);
            if (read <= 0)
            {
                break;
            }

            total += (int)read;
        }

        if (total != KeyBytes)
        {
            problem = $"the instance key {name} does not hold {KeyBytes} bytes";
            return null;
        }

        problem = null;
        return buffer[..KeyBytes].ToArray();
    }

    // A key is a regular file of the owner, readable by the owner and nobody else, of exactly KeyBytes bytes.
    private string? KeyProblem(FileStatus? found, string name) =>
        found is not { } stat ? $"the instance key {name} cannot be read"
        : (stat.Mode & TypeMask) != RegularType ? $"the instance key {name} is not a regular file (mode {Convert.ToString(stat.Mode, 8)})"
        : stat.Uid != Owner ? $"the instance key {name} is owned by uid {stat.Uid}, not by uid {Owner}"
        : (stat.Mode & 0xE3F) != 0 || (stat.Mode & 0x100) == 0 ? $"the instance key {name} has mode {Convert.ToString(stat.Mode & 0xFFF, 8)}, not 0600"
        : stat.Size != KeyBytes ? $"the instance key {name} holds {stat.Size} bytes, not {KeyBytes}"
        : null;

    /// <summary>The path of the instance's key file.</summary>
    public string KeyPath(string instanceName) =>
        SessionIds.IsValidId(instanceName) ? System.IO.Path.Combine(Path, instanceName + ".key")
        : throw new ArgumentException($"Instance name {SessionIds.Quote(instanceName)} is not valid.", nameof(instanceName));

    // \z, not $: "$" also matches before a final newline, which a token never has.
    [GeneratedRegex(@"^[0-9a-f]{32}\z")]
    private static partial Regex SessionToken();
}
