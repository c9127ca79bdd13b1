using System.ComponentModel.DataAnnotations;

namespace NetLabBuilder.Sample;

/// <summary>Settings of the demo lab (configuration section <c>Lab</c>).</summary>
public sealed class LabOptions
{
    /// <summary>Image of every node. It must have <c>sh</c> and <c>sleep</c>.</summary>
    [Required]
    public string Image { get; set; } = "ttydports/busybox:test";

    /// <summary>Start of every container name this lab creates.</summary>
    [Required]
    [RegularExpression("^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")]
    public string ContainerPrefix { get; set; } = "netlab-";

    /// <summary>An extra <c>key=value</c> label on every container, so scripts can find and remove leftovers.</summary>
    [Required]
    [RegularExpression("^[a-zA-Z0-9._-]+=.*$")]
    public string Label { get; set; } = "ttydports.demo=1";

    /// <summary>
    /// Between the topology id and the node's number in a container name (<c>netlab-topo-1a2b3c4d-r1</c>). Default
    /// <c>-r</c>; the NetLab profile uses <c>_</c>, because the NetLab frontend shows a node by the number after the last <c>_</c>.
    /// </summary>
    [Required]
    [RegularExpression("^[a-zA-Z0-9_.-]+$")]
    public string NodeNameSeparator { get; set; } = "-r";

    /// <summary>Nodes of a topology when a deploy request does not say.</summary>
    [Range(1, 8)]
    public int NodesPerTopology { get; set; } = 3;

    /// <summary>
    /// The most nodes one user may have (each is a container, its terminal a ttyd, a tmux and an exec client): a deploy
    /// past it is refused with 409 and creates nothing. Default 16.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxNodesPerUser { get; set; } = 16;

    /// <summary>The most nodes of this lab in all (every user's, guests of the NetLab profile too); a deploy past it is refused. Default 64.</summary>
    [Range(1, 100_000)]
    public int MaxNodes { get; set; } = 64;

    /// <summary>When set, a topology is deployed for this user at start-up.</summary>
    public string? DemoUser { get; set; }

    /// <summary>Tells this lab's containers from another lab's on the same engine. Default: the ttyd instance name.</summary>
    public string? LabId { get; set; }

    /// <summary>The docker client used to create and remove containers. Default: the one ttyd runs (<c>Ttyd:DockerPath</c>).</summary>
    public string? DockerPath { get; set; }
}
