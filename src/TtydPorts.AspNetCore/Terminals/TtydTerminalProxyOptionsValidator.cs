using Microsoft.Extensions.Options;

namespace TtydPorts.AspNetCore;

/// <summary>Checks <see cref="TtydTerminalProxyOptions"/> when the host starts; each failure names the setting and its value.</summary>
internal sealed class TtydTerminalProxyOptionsValidator : IValidateOptions<TtydTerminalProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, TtydTerminalProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.StalledClientTimeout <= TimeSpan.Zero || options.StalledClientTimeout == Timeout.InfiniteTimeSpan)
        {
            failures.Add($"TtydTerminalProxyOptions.StalledClientTimeout must be positive and finite; it is {options.StalledClientTimeout}.");
        }

        if (options.BulkOutputDelay < TimeSpan.Zero || options.BulkOutputDelay > TimeSpan.FromMilliseconds(100))
        {
            failures.Add($"TtydTerminalProxyOptions.BulkOutputDelay must be between zero and 100 ms; it is {options.BulkOutputDelay}.");
        }

        if (options.UserIdSelector is null)
        {
            failures.Add("TtydTerminalProxyOptions.UserIdSelector must not be null.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
