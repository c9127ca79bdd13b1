// These tests run the real ttyd and Docker engine, which this library supports on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
