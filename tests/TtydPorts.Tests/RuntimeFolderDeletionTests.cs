namespace TtydPorts.Tests;

/// <summary>
/// A session's files are deleted only inside the folder that passed its check: its owner (another user, when root runs
/// the tool) may swap the folder for a link to someone else's folder at any moment, and nothing there is ever deleted.
/// </summary>
public sealed class RuntimeFolderDeletionTests : IDisposable
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private static readonly string[] Names = ["0123456789abcdef01234567.sock", "0123456789abcdef01234567.log", "0123456789abcdef01234567.tmux", "0123456789abcdef01234567.watch.sock"];
    private readonly string _root = Directory.CreateTempSubdirectory("tp-delete-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Folder(string name)
    {
        var path = Path.Combine(_root, name);
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var file in Names.Append("0123456789abcdef01234567-recording.cast").Append("fedcba9876543210fedcba98.sock"))
        {
            File.WriteAllText(Path.Combine(path, file), "x");
        }

        return path;
    }

    [Fact]
    public void The_sessions_files_and_only_they_are_deleted_from_the_folder()
    {
        var path = Folder("rt");

        new RuntimeFolder(path, Native.geteuid()).DeleteSessionFiles(Token);

        Assert.Equal(["0123456789abcdef01234567-recording.cast", "fedcba9876543210fedcba98.sock"], Directory.GetFiles(path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task A_folder_swapped_for_a_link_to_another_folder_again_and_again_never_has_a_file_deleted_through_the_link()
    {
        var path = Path.Combine(_root, "rt");
        var real = Folder("rt.real");
        var victim = Folder("victim");
        Directory.Move(real, path);
        var folder = new RuntimeFolder(path, Native.geteuid());
        using var stop = new CancellationTokenSource();

        // The owner's swap: the folder aside, the link in its place, and back; the path is a link about half the time.
        var swapper = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                Directory.Move(path, real);
                File.CreateSymbolicLink(path, victim);
                File.Delete(path); // the link itself
                Directory.Move(real, path);
            }
        }, TestContext.Current.CancellationToken);
        for (var i = 0; i < 20_000 && !swapper.IsCompleted; i++)
        {
            folder.DeleteSessionFiles(Token);
        }

        stop.Cancel();
        await swapper;

        Assert.All(Names, name => Assert.True(File.Exists(Path.Combine(victim, name)), $"{name} was deleted through the link"));
        foreach (var name in Names)
        {
            File.WriteAllText(Path.Combine(path, name), "x");
        }

        folder.DeleteSessionFiles(Token); // control: the folder itself, once in place, has its files deleted
        Assert.Equal(["0123456789abcdef01234567-recording.cast", "fedcba9876543210fedcba98.sock"], Directory.GetFiles(path).Select(Path.GetFileName).Order());
    }
}
