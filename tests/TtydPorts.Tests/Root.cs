namespace TtydPorts.Tests;

/// <summary>Tests that need root: skipped for a developer who runs them as another user, a failure under CI=true (never a silent skip there).</summary>
internal static class Root
{
    public static void Require(string why)
    {
        if (Native.geteuid() == 0)
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"CI=true and the tests do not run as root: {why}.");
        }

        Assert.Skip(why);
    }
}
