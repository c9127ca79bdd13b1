namespace TtydPorts.IntegrationTests;

internal static class Poll
{
    /// <summary>Checks <paramref name="condition"/> until it holds; the token bounds the wait.</summary>
    public static async Task UntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (!condition())
        {
            await Task.Delay(5, cancellationToken);
        }
    }
}
