using System.Diagnostics.Metrics;

namespace TtydPorts;

/// <summary>The library's instruments, on the meter <see cref="MeterName"/>.</summary>
internal sealed class TtydPortsMetrics : IDisposable
{
    public const string MeterName = "TtydPorts";

    // A start takes milliseconds when all is well (ttyd listens within ~5-50 ms) and seconds when it retries or times out
    // (StartTimeout, 10 s by default): the default buckets (0, 5, 10, 25 ... 10000) would put every healthy start into one.
    internal static readonly IReadOnlyList<double> StartDurationBuckets =
        [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30];

    private readonly Meter _meter;

    public TtydPortsMetrics(IMeterFactory? meterFactory, Func<int> activeSessions, Func<int> portsInUse)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        Starts = _meter.CreateCounter<long>("ttydports.session.starts", unit: "{session}", description: "EnsureSession outcomes, by result (created, reused, refused, failed).");
        StartDuration = _meter.CreateHistogram(
            "ttydports.session.start.duration",
            unit: "s",
            description: "Time to start a ttyd until its endpoint accepts connections.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StartDurationBuckets });
        Stops = _meter.CreateCounter<long>("ttydports.session.stops", unit: "{session}", description: "Sessions stopped, by reason.");
        _meter.CreateObservableGauge("ttydports.sessions.active", activeSessions, unit: "{session}", description: "Sessions this manager tracks.");
        _meter.CreateObservableGauge("ttydports.ports.in_use", portsInUse, unit: "{port}", description: "Ports of the range reserved by this manager.");
    }

    public Counter<long> Starts { get; }

    public Histogram<double> StartDuration { get; }

    public Counter<long> Stops { get; }

    public void Started(string result)
    {
        if (Starts.Enabled)
        {
            Starts.Add(1, new KeyValuePair<string, object?>("result", result));
        }
    }

    public void Stopped(StopReason reason)
    {
        if (Stops.Enabled)
        {
            Stops.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString().ToLowerInvariant()));
        }
    }

    public void Dispose() => _meter.Dispose();
}
