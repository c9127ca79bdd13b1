namespace TtydPorts;

/// <summary>
/// A process as the kernel identifies it over time: a PID alone can be recycled, the pair of PID and
/// start time (clock ticks since boot, from <c>/proc/PID/stat</c>) cannot.
/// </summary>
/// <param name="ProcessId">PID.</param>
/// <param name="StartTime">Start time in clock ticks since boot.</param>
public readonly record struct ProcessIdentity(int ProcessId, ulong StartTime);
