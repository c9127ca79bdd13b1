using System.Diagnostics.Metrics;

namespace TtydPorts.AspNetCore;

/// <summary>The terminal relay's instruments, on the library's meter (<c>TtydPorts</c>).</summary>
internal sealed class TerminalRelayMetrics : IDisposable
{
    private readonly Meter _meter;

    public TerminalRelayMetrics(IMeterFactory? meterFactory)
    {
        _meter = meterFactory?.Create(TtydPortsMetrics.MeterName) ?? new Meter(TtydPortsMetrics.MeterName);
        Connections = _meter.CreateUpDownCounter<long>(
            "ttydports.terminal.connections", unit: "{connection}", description: "Browser connections to terminals the proxy relays now (each holds a relay thread).");
        Output = _meter.CreateCounter<long>(
            "ttydports.terminal.output", unit: "By", description: "Terminal output relayed to browsers, by route (socket: straight to the client's socket; kestrel: through Kestrel's pipe).");
        Stalls = _meter.CreateCounter<long>(
            "ttydports.terminal.stalls", unit: "{connection}", description: "Browser connections closed because they took none of their terminal's output for StalledClientTimeout.");
    }

    public UpDownCounter<long> Connections { get; }

    public Counter<long> Output { get; }

    public Counter<long> Stalls { get; }

    public void Relayed(long direct, long kestrel)
    {
        if (Output.Enabled)
        {
            Output.Add(direct, new KeyValuePair<string, object?>("route", "socket"));
            Output.Add(kestrel, new KeyValuePair<string, object?>("route", "kestrel"));
        }
    }

    public void Dispose() => _meter.Dispose();
}
