namespace TtydPorts;

/// <summary>
/// The library runs on Linux only (it reads <c>/proc</c>, holds processes by pidfd, starts them with <c>posix_spawn</c>).
/// Registration says so at once, rather than the first session failing with a missing libc entry point.
/// </summary>
/// <remarks>
/// The assembly is deliberately not marked <c>[SupportedOSPlatform("linux")]</c>: that would make the platform analyzer
/// (CA1416) warn at every call a consumer makes, even in a host that only ever runs on Linux, and ask each of them to
/// mark or guard its own code. The one runtime check here, at the one entry point, gives the same protection.
/// </remarks>
internal static class TtydPlatform
{
    // Tests pretend to be on another OS within their own async flow, without touching tests that run beside them.
    private static readonly AsyncLocal<bool?> SimulatedLinux = new();

    public static bool IsSupported => SimulatedLinux.Value ?? OperatingSystem.IsLinux();

    /// <summary>Throws a <see cref="PlatformNotSupportedException"/> unless the process runs on Linux.</summary>
    public static void ThrowIfUnsupported()
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException(
                $"TtydPorts runs on Linux only (it manages ttyd processes through /proc, pidfds and posix_spawn); this process runs on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}. " +
                "Register AddTtydSessions() only when OperatingSystem.IsLinux() is true.");
        }
    }

    /// <summary>For tests: within the current async flow, the OS check answers <paramref name="isLinux"/> until disposed.</summary>
    internal static IDisposable Simulate(bool isLinux)
    {
        var previous = SimulatedLinux.Value;
        SimulatedLinux.Value = isLinux;
        return new Restore(previous);
    }

    private sealed class Restore(bool? previous) : IDisposable
    {
        public void Dispose() => SimulatedLinux.Value = previous;
    }
}
