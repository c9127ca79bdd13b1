namespace TtydPorts.Tests;

/// <summary>The instance key of a fresh runtime folder, asked for by many first starts at once.</summary>
public sealed class RuntimeFolderKeyTests
{
    [Fact]
    public async Task First_starts_at_once_all_get_the_one_key_written_whole_and_nothing_else_stays_in_the_folder()
    {
        for (var round = 0; round < 20; round++)
        {
            var path = Path.Combine(Path.GetTempPath(), "ttydports-key-" + Guid.NewGuid().ToString("N"));
            try
            {
                var folder = new RuntimeFolder(path, Native.geteuid());
                using var go = new ManualResetEventSlim();
                var starts = Enumerable.Range(0, 8).Select(_ => Task.Run(() => { go.Wait(); return folder.GetOrCreateKey("lab"); })).ToArray();
                go.Set();
                var keys = await Task.WhenAll(starts);

                Assert.All(keys, key => Assert.Equal(keys[0], key));
                Assert.Equal(32, keys[0].Length);
                Assert.Equal(keys[0], folder.ReadKey("lab", byName: true)); // what markers are checked with later
                Assert.Equal(["lab.key"], Directory.GetFiles(path).Select(Path.GetFileName)); // no half-made key left
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(path, "lab.key")));
            }
            finally
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }
            }
        }
    }

    [Fact]
    public void A_key_that_cannot_be_written_on_a_full_filesystem_fails_naming_it_leaves_no_file_and_is_written_once_space_is_back()
    {
        TtydPorts.IntegrationTests.RealParts.RequireRoot("mounting a small filesystem needs root");
        var path = Path.Combine(Path.GetTempPath(), "ttydports-full-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.Equal(0, Mount("mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", path));
        try
        {
            var filler = Path.Combine(path, "filler");
            Assert.Throws<IOException>(() => File.WriteAllBytes(filler, new byte[1 << 20])); // what fits stays: the filesystem is full

            var folder = new RuntimeFolder(path, Native.geteuid());
            var e = Assert.Throws<IOException>(() => folder.GetOrCreateKey("lab"));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Equal(["filler"], Directory.GetFiles(path).Select(Path.GetFileName)); // no empty half-made key left behind

            File.Delete(filler);
            Assert.Equal(32, folder.GetOrCreateKey("lab").Length);
            Assert.Equal(["lab.key"], Directory.GetFiles(path).Select(Path.GetFileName));
        }
        finally
        {
            Mount("umount", path);
            Directory.Delete(path);
        }
    }

    private static int Mount(string command, params string[] arguments)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(command, [.. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        process.WaitForExit();
        return process.ExitCode;
    }
}
