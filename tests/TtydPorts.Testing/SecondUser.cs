using System.Diagnostics;
using System.Globalization;

namespace TtydPorts.IntegrationTests;

/// <summary>
/// Another local OS user, created for one test and deleted after it (also when the test fails): the attacker of the
/// trust tests. Needs root; under <c>CI=true</c> a run that is not root fails instead of skipping.
/// </summary>
public sealed class SecondUser : IDisposable
{
    private readonly List<Process> _processes = [];

    private SecondUser(string name, uint uid, uint gid)
    {
        Name = name;
        Uid = uid;
        Gid = gid;
    }

    public string Name { get; }
    public uint Uid { get; }
    public uint Gid { get; }

    public static SecondUser Create()
    {
        RealParts.Require();
        RealParts.RequireRoot("the second-user attack tests need root to create that user");

        var name = "tpatk" + Guid.NewGuid().ToString("N")[..8];
        var (code, output) = RealParts.Run("useradd", "-M", "-s", "/usr/sbin/nologin", name);
        Assert.True(code == 0, $"useradd failed: {output}");
        var uid = uint.Parse(RealParts.Run("id", "-u", name).Output, CultureInfo.InvariantCulture);
        var gid = uint.Parse(RealParts.Run("id", "-g", name).Output, CultureInfo.InvariantCulture);
        return new SecondUser(name, uid, gid);
    }

    /// <summary>Starts <paramref name="command"/> as this user with exactly <paramref name="environment"/>.</summary>
    public Process Start(IReadOnlyDictionary<string, string> environment, params string[] command)
    {
        var start = new ProcessStartInfo("setpriv", [$"--reuid={Uid}", $"--regid={Gid}", "--clear-groups", "--", .. command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        _processes.Add(process);
        return process;
    }

    /// <summary>Runs a command as this user and returns its exit code and output.</summary>
    public (int ExitCode, string Output) Run(params string[] command) =>
        RealParts.Run("setpriv", [$"--reuid={Uid}", $"--regid={Gid}", "--clear-groups", "--", .. command]);

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            process.Dispose();
        }

        // Anything else still running as the user would make userdel fail: end it first.
        RealParts.Run("pkill", "-KILL", "-u", Name);
        var (code, output) = RealParts.Run("userdel", Name);
        Assert.True(code == 0, $"userdel {Name} failed: {output}");
    }
}
