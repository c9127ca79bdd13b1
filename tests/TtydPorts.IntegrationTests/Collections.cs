namespace TtydPorts.IntegrationTests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealPartsCollection : ICollectionFixture<ContainerLab>
{
    public const string Name = "Real ttyd and Docker engine";
}
