// The library supports Linux only (posix_spawn, /proc, pidfds); so do its tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
