using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TtydPorts.Benchmarks;

/// <summary>
/// The baseline for the create path: ttyd started with a bare <c>posix_spawnp</c> (output to /dev/null) and
/// polled with a TCP connect every millisecond until its port accepts. No port search, no markers, no log file,
/// no ownership check: what any caller pays at least to start a ttyd and know it is ready.
/// </summary>
public static partial class RawTtyd
{
    private const int WNOHANG = 1;
    private const int SIGKILL = 9;

    // The environment is built once, outside any measurement.
    private static readonly IntPtr[] Environ = BuildEnviron();

    /// <summary>Like <see cref="Start"/>, but polls with the supervisor's schedule (Task.Delay of 1 ms, doubling up to 20 ms).</summary>
    public static async Task<int> StartWithBackoffAsync(int port, string container)
    {
        var pid = Spawn(port, container);
        var delay = TimeSpan.FromMilliseconds(1);
        for (var i = 0; i < 1000; i++)
        {
            if (await BenchHarness.AcceptsAsync(port).ConfigureAwait(false))
            {
                return pid;
            }

            await Task.Delay(delay).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(20).Ticks));
        }

        Stop(pid);
        throw new InvalidOperationException($"raw ttyd on port {port} never accepted");
    }

    /// <summary>Spawns <c>ttyd -p PORT -i 127.0.0.1 -W docker exec -it CONTAINER /bin/sh</c> and waits until the port accepts; returns the pid.</summary>
    public static int Start(int port, string container, TimeSpan timeout) => Start(port, ["docker", "exec", "-it", container, "/bin/sh"], timeout);

    /// <summary>Spawns <c>ttyd -p PORT -i 127.0.0.1 -W COMMAND...</c> and waits until the port accepts; returns the pid.</summary>
    public static int Start(int port, string[] command, TimeSpan timeout) => Start(port, command, timeout, 0);

    /// <summary>Like <see cref="Start(int, string[], TimeSpan)"/>, polling every <paramref name="pollMicroseconds"/> us (0: <c>Thread.Sleep(1)</c>).</summary>
    public static int Start(int port, string[] command, TimeSpan timeout, uint pollMicroseconds) =>
        WaitAccepting(Spawn(port, command), new IPEndPoint(IPAddress.Loopback, port), $"port {port}", timeout, pollMicroseconds);

    // Connects every pollMicroseconds until ttyd accepts (its pid returned), it exits, or the timeout passes (it is stopped).
    private static int WaitAccepting(int pid, EndPoint endpoint, string where, TimeSpan timeout, uint pollMicroseconds)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            using (var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, endpoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp))
            {
                try
                {
                    socket.Connect(endpoint);
                    return pid;
                }
                catch (SocketException)
                {
                }
            }

            if (waitpid(pid, out _, WNOHANG) == pid)
            {
                throw new InvalidOperationException($"raw ttyd on {where} exited before it accepted connections (taken?)");
            }

            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                Stop(pid);
                throw new InvalidOperationException($"raw ttyd on {where} did not accept connections within {timeout}");
            }

            if (pollMicroseconds == 0)
            {
                Thread.Sleep(1);
            }
            else
            {
                _ = usleep(pollMicroseconds);
            }
        }
    }

    /// <summary>Only the spawn (<c>ttyd -p PORT ... sleep 1</c>), no wait: for timing <c>posix_spawnp</c> alone.</summary>
    public static int SpawnOnly(int port) => Spawn(port, ["sleep", "1"]);

    private static int Spawn(int port, string container) => Spawn(port, ["docker", "exec", "-it", container, "/bin/sh"]);

    private static int Spawn(int port, string[] command) => Spawn(["-p", port.ToString(CultureInfo.InvariantCulture), "-i", "127.0.0.1"], command);

    /// <summary>
    /// Spawns <c>ttyd -i SOCKET -W COMMAND...</c> (a Unix socket, as the manager's socket mode) and waits until the socket
    /// accepts, connecting every <paramref name="pollMicroseconds"/> us (0: <c>Thread.Sleep(1)</c>); returns the pid.
    /// </summary>
    public static int StartOnSocket(string socketPath, string[] command, TimeSpan timeout, uint pollMicroseconds) =>
        WaitAccepting(Spawn(["-i", socketPath], command), new UnixDomainSocketEndPoint(socketPath), socketPath, timeout, pollMicroseconds);

    private static unsafe int Spawn(string[] listen, string[] command)
    {
        string[] argv = [BenchHarness.TtydPath, .. listen, "-W", .. command];
        var owned = new List<IntPtr>();
        var argvPtr = (IntPtr*)NativeMemory.AllocZeroed((nuint)(argv.Length + 1), (nuint)sizeof(IntPtr));
        var envPtr = (IntPtr*)NativeMemory.AllocZeroed((nuint)(Environ.Length + 1), (nuint)sizeof(IntPtr));
        var actions = NativeMemory.AllocZeroed(256); // glibc's posix_spawn_file_actions_t is 80 bytes
        int pid;
        try
        {
            for (var i = 0; i < argv.Length; i++)
            {
                owned.Add(argvPtr[i] = Marshal.StringToCoTaskMemUTF8(argv[i]));
            }

            for (var i = 0; i < Environ.Length; i++)
            {
                envPtr[i] = Environ[i];
            }

            _ = posix_spawn_file_actions_init(actions);
            _ = posix_spawn_file_actions_addopen(actions, 1, "/dev/null", 1 /* O_WRONLY */, 0);
            _ = posix_spawn_file_actions_adddup2(actions, 1, 2);
            var error = posix_spawnp(out pid, BenchHarness.TtydPath, actions, null, argvPtr, envPtr);
            if (error != 0)
            {
                throw new InvalidOperationException($"posix_spawnp {BenchHarness.TtydPath} failed: errno {error}");
            }
        }
        finally
        {
            _ = posix_spawn_file_actions_destroy(actions);
            NativeMemory.Free(actions);
            foreach (var p in owned)
            {
                Marshal.FreeCoTaskMem(p);
            }

            NativeMemory.Free(argvPtr);
            NativeMemory.Free(envPtr);
        }

        return pid;
    }

    /// <summary><c>waitpid(pid, WNOHANG)</c>, as the supervisor's reaping does on every liveness check.</summary>
    public static int WaitNoHang(int pid) => waitpid(pid, out _, WNOHANG);

    /// <summary>SIGKILL and reap (the process is our child).</summary>
    public static void Stop(int pid)
    {
        _ = kill(pid, SIGKILL);
        _ = waitpid(pid, out _, 0);
    }

    private static IntPtr[] BuildEnviron()
    {
        var list = new List<IntPtr>();
        foreach (DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            list.Add(Marshal.StringToCoTaskMemUTF8($"{e.Key}={e.Value}"));
        }

        return [.. list];
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int posix_spawnp(out int pid, string file, void* fileActions, void* attributes, IntPtr* argv, IntPtr* envp);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int posix_spawn_file_actions_addopen(void* actions, int fd, string path, int flags, uint mode);

    [LibraryImport("libc")]
    private static unsafe partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);

    [LibraryImport("libc")]
    private static partial int usleep(uint microseconds);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int waitpid(int pid, out int status, int options);
}
