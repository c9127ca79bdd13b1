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
}
