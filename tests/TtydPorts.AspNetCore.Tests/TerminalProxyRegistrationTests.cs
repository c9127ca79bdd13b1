using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TtydPorts.AspNetCore.Tests;

public sealed class TerminalProxyRegistrationTests
{
    [Fact]
    public void The_proxy_puts_ttyd_on_a_unix_socket_under_the_prefix_with_the_origin_check_whatever_the_host_configured()
    {
        var services = new ServiceCollection();
        services.AddTtydSessions(o => (o.ListenMode, o.BasePath, o.CheckOrigin) = (TtydListenMode.Tcp, "/elsewhere", false)).AddTtydTerminalProxy("/lab/terminals");
        services.Configure<TtydSessionOptions>(o => o.CheckOrigin = false);
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<TtydSessionOptions>>().Value;
        var proxy = provider.GetRequiredService<IOptions<TtydTerminalProxyOptions>>().Value;

        Assert.Equal((TtydListenMode.UnixSocket, "/lab/terminals", true), (options.ListenMode, options.BasePath, options.CheckOrigin));
        Assert.Equal("/lab/terminals", proxy.PathPrefix);
    }

    [Theory]
    [InlineData("terminals")]
    [InlineData("/terminals/")]
    [InlineData("/")]
    [InlineData("/a/../b")]
    [InlineData("/a b")]
    [InlineData("/a%2Fb")]
    public void A_prefix_that_is_not_a_plain_path_is_refused_with_its_value(string prefix)
    {
        var builder = new ServiceCollection().AddTtydSessions();

        var error = Assert.Throws<ArgumentException>(() => builder.AddTtydTerminalProxy(prefix));

        Assert.Contains($"'{prefix}'", error.Message, StringComparison.Ordinal);
        Assert.Equal("prefix", error.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_stall_timeout_that_is_not_positive_is_refused_with_its_value_while_a_positive_one_passes(int seconds)
    {
        using var refused = new ServiceCollection().AddTtydSessions().AddTtydTerminalProxy("/terminals", o => o.StalledClientTimeout = TimeSpan.FromSeconds(seconds)).Services.BuildServiceProvider();
        using var accepted = new ServiceCollection().AddTtydSessions().AddTtydTerminalProxy("/terminals", o => o.StalledClientTimeout = TimeSpan.FromSeconds(1)).Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => refused.GetRequiredService<IOptions<TtydTerminalProxyOptions>>().Value);

        Assert.Contains($"StalledClientTimeout must be positive and finite; it is {TimeSpan.FromSeconds(seconds)}", error.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(1), accepted.GetRequiredService<IOptions<TtydTerminalProxyOptions>>().Value.StalledClientTimeout);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(101)]
    public void A_bulk_output_delay_below_zero_or_above_100_ms_is_refused_with_its_value_while_zero_passes(int milliseconds)
    {
        using var refused = new ServiceCollection().AddTtydSessions().AddTtydTerminalProxy("/terminals", o => o.BulkOutputDelay = TimeSpan.FromMilliseconds(milliseconds)).Services.BuildServiceProvider();
        using var accepted = new ServiceCollection().AddTtydSessions().AddTtydTerminalProxy("/terminals", o => o.BulkOutputDelay = TimeSpan.Zero).Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => refused.GetRequiredService<IOptions<TtydTerminalProxyOptions>>().Value);

        Assert.Contains($"BulkOutputDelay must be between zero and 100 ms; it is {TimeSpan.FromMilliseconds(milliseconds)}", error.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.Zero, accepted.GetRequiredService<IOptions<TtydTerminalProxyOptions>>().Value.BulkOutputDelay);
    }

    [Fact]
    public void Mapping_the_terminals_without_the_proxy_registration_says_what_is_missing()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddTtydSessions();
        using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.MapTtydTerminals());

        Assert.Contains("AddTtydTerminalProxy", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_user_id_is_the_name_identifier_claim_then_the_identity_name()
    {
        var both = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "id-1"), new Claim(ClaimTypes.Name, "Alice")], "test"));
        var nameOnly = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, "Alice")], "test"));
        var none = new ClaimsPrincipal(new ClaimsIdentity());

        Assert.Equal("id-1", TtydTerminalProxyOptions.DefaultUserId(both));
        Assert.Equal("Alice", TtydTerminalProxyOptions.DefaultUserId(nameOnly));
        Assert.Null(TtydTerminalProxyOptions.DefaultUserId(none));
    }
}
