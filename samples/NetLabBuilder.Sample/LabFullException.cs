namespace NetLabBuilder.Sample;

/// <summary>A deploy would pass <see cref="LabOptions.MaxNodesPerUser"/> or <see cref="LabOptions.MaxNodes"/>; nothing was created.</summary>
public sealed class LabFullException(string message) : InvalidOperationException(message);
