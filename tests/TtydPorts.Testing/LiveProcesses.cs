using System.Globalization;

namespace TtydPorts.IntegrationTests;

/// <summary>Reads of a live process tree that tolerate its threads and children ending while they are read.</summary>
public static class LiveProcesses
{
    /// <summary>The direct children of <paramref name="pid"/>, from every thread's <c>children</c> file.</summary>
    /// <remarks>A thread that ends between listing and reading (libwebsockets' helper threads do) has no children to count.</remarks>
    public static IReadOnlyList<int> Children(int pid)
    {
        var children = new List<int>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(task, "children"));
            }
            catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
            {
                continue;
            }

            children.AddRange(text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)));
        }

        return children;
    }

    /// <summary><paramref name="root"/> and every descendant alive while it was walked, parents first.</summary>
    public static IReadOnlyList<int> Tree(int root)
    {
        var tree = new List<int> { root };
        for (var i = 0; i < tree.Count; i++)
        {
            if (Directory.Exists($"/proc/{tree[i]}/task"))
            {
                tree.AddRange(Children(tree[i]));
            }
        }

        return tree;
    }
}
