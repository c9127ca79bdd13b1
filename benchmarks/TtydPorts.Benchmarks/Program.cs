using System.Globalization;
using BenchmarkDotNet.Running;
using TtydPorts.Benchmarks;

// --scenario compare [--sessions 200] [--range 21000 21999] [--seed-json FILE] [--out FILE]
// --scenario scale   [--sessions 1001] [--range 8000 9000]
// --scenario scale-modes --mode proxy|direct [--sessions 2000] [--mark 200] [--range 30000 31999]: create, status at the mark and at N, cleanup, leaks
// --scenario create-check [--rounds 40] [--warmup 8] [--modes direct,persistent] [--listen tcp|socket] [--tick US] [--inline N] [--range 23000 23399]: issue 16's create vs raw ttyd + the same Engine API inspect (needs Docker); socket: both on Unix sockets (the proxy's mode, where a container seen before gets its ttyd while the engine answers)
// --scenario persistence [--sessions 5] [--range 21000 21999]: memory and first prompt with and without persistent shells
// --scenario first-prompt [--sessions 5] [--think 1000] --seed-dir DIR [--range 21000 21999]: click to prompt, ours vs seed vs raw; PSS per connected terminal
// --scenario exec-client [--sessions 5] [--clients 1,10,20] [--exec-client PATH] [--docker PATH] [--range 21000 21099]: docker CLI vs ttydports-exec, cold first prompt and PSS per connected terminal
// --scenario exits [--sessions 50] [--idle 10] [--range 21000 21999]: create and stop time, context switches creating, idle, stopping
// --scenario echo [--keys 2000] [--megabytes 50] [--rounds 3] [--connections 1: keys and rounds split over this many fresh sessions and connections per terminal] [--persistent both|true|false] [--docker PATH] [--kestrel-inline true: a third terminal through a host with Kestrel UnsafePreferInlineScheduling] [--range 21000 21099]: keystroke echo and throughput, direct vs proxy
// anything else: BenchmarkDotNet (e.g. --filter '*' --join)
if (args.Length >= 2 && args[0] == "--scenario")
{
    string? Opt(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);
    var range = Array.IndexOf(args, "--range");
    switch (args[1])
    {
        case "compare":
            return await Scenarios.CompareAsync(
                Int(Opt("--sessions") ?? "200"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End,
                Opt("--seed-json"),
                Opt("--out"));
        case "scale":
            return await Scenarios.ScaleAsync(
                Int(Opt("--sessions") ?? "1001"),
                range >= 0 ? Int(args[range + 1]) : 8000,
                range >= 0 ? Int(args[range + 2]) : 9000);
        case "scale-modes":
            return await ScaleModesScenario.RunAsync(
                Opt("--mode") ?? "proxy",
                Int(Opt("--sessions") ?? "2000"),
                Int(Opt("--mark") ?? "200"),
                range >= 0 ? Int(args[range + 1]) : 30000,
                range >= 0 ? Int(args[range + 2]) : 31999);
        case "hot-parts":
            return await Scenarios.HotPartsAsync(
                Int(Opt("--sessions") ?? "200"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End);
        case "create-parts":
            return await Scenarios.CreatePartsAsync(
                Int(Opt("--sessions") ?? "100"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End);
        case "create-check":
            return await CreateCheckScenario.RunAsync(
                Int(Opt("--rounds") ?? "40"),
                Int(Opt("--warmup") ?? "8"),
                range >= 0 ? Int(args[range + 1]) : 23000,
                range >= 0 ? Int(args[range + 2]) : 23399,
                Opt("--modes") ?? "direct,persistent",
                Opt("--tick") is { } tick ? uint.Parse(tick, CultureInfo.InvariantCulture) : null,
                Opt("--inline") is { } inline ? Int(inline) : null,
                Opt("--listen") == "socket");
        case "persistence":
            return await PersistenceScenario.RunAsync(
                Int(Opt("--sessions") ?? "5"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End);
        case "first-prompt":
            return await FirstPromptScenario.RunAsync(
                Int(Opt("--sessions") ?? "5"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End,
                Opt("--seed-dir") ?? "../shared/baseline",
                Int(Opt("--think") ?? "1000"));
        case "exec-client":
            return await ExecClientScenario.RunAsync(
                Int(Opt("--sessions") ?? "5"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End,
                Opt("--exec-client") ?? "/usr/local/lib/ttydports/ttydports-exec",
                Opt("--docker") ?? "docker",
                [.. (Opt("--clients") ?? "1,10,20").Split(',').Select(Int)]);
        case "exits":
            return await ExitsScenario.RunAsync(
                Int(Opt("--sessions") ?? "50"),
                Int(Opt("--idle") ?? "10"),
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End);
        case "echo":
            return await EchoScenario.RunAsync(
                Int(Opt("--keys") ?? "2000"),
                Int(Opt("--megabytes") ?? "50"),
                Int(Opt("--rounds") ?? "3"),
                Int(Opt("--connections") ?? "1"),
                Opt("--persistent") ?? "both",
                range >= 0 ? Int(args[range + 1]) : BenchRange.Start,
                range >= 0 ? Int(args[range + 2]) : BenchRange.End,
                Opt("--docker") ?? "docker",
                Opt("--kestrel-inline") == "true");
        case "relay-memory":
            return await RelayMemoryScenario.RunAsync(Int(Opt("--terminals") ?? "16"), Opt("--docker") ?? "docker");
        case "echo-proxy-host":
            return await EchoScenario.ServeProxyAsync(Opt("--persistent") == "true", Opt("--docker") ?? "docker", Opt("--container") ?? throw new ArgumentException("--container is required"), Opt("--relay") != "yarp", Opt("--kestrel-inline") == "true");
        default:
            await Console.Error.WriteLineAsync($"unknown scenario '{args[1]}' (compare, scale, scale-modes, hot-parts, create-parts, create-check, persistence, first-prompt, exec-client, exits, echo, relay-memory)");
            return 2;
    }
}

_ = BenchmarkSwitcher.FromAssembly(typeof(BenchHarness).Assembly).Run(args);
return 0;
