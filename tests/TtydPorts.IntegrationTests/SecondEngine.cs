using System.Diagnostics;
using System.Net.Sockets;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// A second, private Docker engine (its own socket, data and exec roots, <c>--live-restore</c>) that a test may stop
/// and start again without disturbing the machine's engine or anything else using it.
/// </summary>
internal sealed class SecondEngine : IAsyncDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "tp-eng-" + Guid.NewGuid().ToString("N")[..8]);
    private Process? _dockerd;

    public string Socket => Path.Combine(_root, "docker.sock");
    public string Endpoint => "unix://" + Socket;

    public static async Task<SecondEngine> StartAsync(CancellationToken cancellationToken)
    {
        RealParts.Require();
        var engine = new SecondEngine();
        Directory.CreateDirectory(engine._root);
        await engine.StartAgainAsync(cancellationToken);
        var image = Path.Combine(engine._root, "image.tar");
        RealParts.Docker("save", "-o", image, RealParts.Image);
        engine.Docker("load", "-i", image);
        File.Delete(image);
        return engine;
    }

    public async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("dockerd", [
            "-H", Endpoint, "--data-root", Path.Combine(_root, "data"), "--exec-root", Path.Combine(_root, "exec"),
            "--pidfile", Path.Combine(_root, "docker.pid"), "--iptables=false", "--ip-masq=false", "--bridge=none",
            "--storage-driver=vfs", "--live-restore"])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        _dockerd = Process.Start(start)!;
        _dockerd.OutputDataReceived += (_, _) => { };
        _dockerd.ErrorDataReceived += (_, _) => { };
        _dockerd.BeginOutputReadLine();
        _dockerd.BeginErrorReadLine();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        await Poll.UntilAsync(() => _dockerd.HasExited || RealParts.Run(RealParts.DockerClient, "-H", Endpoint, "version").ExitCode == 0, cts.Token);
        if (_dockerd.HasExited)
        {
            throw new InvalidOperationException($"the second dockerd exited with {_dockerd.ExitCode}");
        }
    }

    public async Task StopAsync()
    {
        if (_dockerd is { HasExited: false } dockerd)
        {
            RealParts.Run("kill", "-TERM", dockerd.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)); // live-restore keeps the containers running
            await dockerd.WaitForExitAsync();
        }
    }

    public string Docker(params string[] arguments) => RealParts.Docker(["-H", Endpoint, .. arguments]);

    // The managed containerd of this engine only (its command line names our private root).
    private void KillOwnContainerd()
    {
        foreach (var process in Process.GetProcessesByName("containerd"))
        {
            using (process)
            {
                try
                {
                    if (File.ReadAllText($"/proc/{process.Id}/cmdline").Contains(_root, StringComparison.Ordinal))
                    {
                        process.Kill();
                        process.WaitForExit();
                    }
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_dockerd is { HasExited: false })
        {
            var ids = Docker("ps", "-aq").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            foreach (var id in ids)
            {
                Docker("rm", "-f", id); // one at a time: moby#46661 (Engine.RemoveContainers)
            }

            _dockerd.Kill();
            await _dockerd.WaitForExitAsync();
        }

        KillOwnContainerd();
        foreach (var mount in File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1]).Where(m => m.StartsWith(_root, StringComparison.Ordinal)).Reverse())
        {
            RealParts.Run("umount", "-l", mount);
        }

        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }

        _dockerd?.Dispose();
    }
}
