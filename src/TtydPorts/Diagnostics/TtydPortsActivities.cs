using System.Diagnostics;

namespace TtydPorts;

/// <summary>
/// The library's traces, on the activity source <see cref="SourceName"/> (a host subscribes with
/// <c>AddSource("TtydPorts")</c>): one activity per session created, per session stopped and per repair pass.
/// </summary>
/// <remarks>
/// Tags name the container, its topology and where ttyd listens, never the user id: traces are exported, sampled and
/// kept by other systems with other access rules than the host's logs, and a user id is often a person's login or
/// e-mail address. The container name is enough to find the session's user in the host's own log (event 1).
/// </remarks>
internal static class TtydPortsActivities
{
    public const string SourceName = "TtydPorts";

    public const string CreateName = "ttydports.session.create";
    public const string StopName = "ttydports.session.stop";
    public const string RepairName = "ttydports.repair";

    public const string ContainerTag = "ttydports.container";
    public const string TopologyTag = "ttydports.topology";
    public const string ResultTag = "ttydports.result";
    public const string EndpointTag = "ttydports.endpoint";
    public const string ProcessIdTag = "ttydports.process.id";
    public const string ReasonTag = "ttydports.stop.reason";
    public const string StoppedTag = "ttydports.repair.stopped";
    public const string FailedTag = "ttydports.repair.failed";

    // OpenTelemetry's semantic convention for the kind of failure.
    public const string ErrorTypeTag = "error.type";

    public static readonly ActivitySource Source = new(SourceName, typeof(TtydPortsActivities).Assembly.GetName().Version?.ToString());

    public static Activity? StartCreate(string container, string? topologyId)
    {
        var activity = Source.StartActivity(CreateName);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(ContainerTag, container);
            if (topologyId is not null)
            {
                activity.SetTag(TopologyTag, topologyId);
            }
        }

        return activity;
    }

    public static void Created(Activity? activity, string result, TtydSession? session)
    {
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.SetTag(ResultTag, result);
        if (session is not null)
        {
            activity.SetTag(EndpointTag, Log.EndpointOf(session));
            activity.SetTag(ProcessIdTag, session.ProcessId);
        }
        else
        {
            activity.SetStatus(ActivityStatusCode.Error, "No free port in the range.");
        }
    }

    public static Activity? StartStop(TtydSession session, StopReason reason)
    {
        var activity = Source.StartActivity(StopName);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(ContainerTag, session.Container);
            if (session.TopologyId is not null)
            {
                activity.SetTag(TopologyTag, session.TopologyId);
            }

            activity.SetTag(ReasonTag, Reason(reason));
            activity.SetTag(EndpointTag, Log.EndpointOf(session));
            activity.SetTag(ProcessIdTag, session.ProcessId);
        }

        return activity;
    }

    public static Activity? StartRepair() => Source.StartActivity(RepairName);

    public static void Repaired(Activity? activity, CleanupResult result)
    {
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(StoppedTag, result.Stopped.Count);
            activity.SetTag(FailedTag, result.Failed.Count);
            if (!result.Succeeded)
            {
                activity.SetStatus(ActivityStatusCode.Error, $"{result.Failed.Count} session(s) could not be stopped.");
            }
        }
    }

    public static void Failed(Activity? activity, Exception exception)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(ErrorTypeTag, exception.GetType().FullName);
        activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity.AddException(exception);
    }

    public static string Reason(StopReason reason) => reason.ToString().ToLowerInvariant();
}
