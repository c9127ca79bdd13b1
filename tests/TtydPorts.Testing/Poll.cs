namespace TtydPorts.IntegrationTests;

public static class Poll
{
    /// <summary>The test's own cancellation, bounded to <paramref name="seconds"/>: the limit of a wait that polls.</summary>
    public static CancellationToken Within(int seconds)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(seconds));
        return cts.Token;
    }

    /// <summary>Checks <paramref name="condition"/> until it holds; the token bounds the wait.</summary>
    public static async Task UntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (!condition())
        {
            await Task.Delay(5, cancellationToken);
        }
    }
}
