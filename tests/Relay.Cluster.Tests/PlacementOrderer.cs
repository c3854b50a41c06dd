using Xunit.Abstractions;
using Xunit.Sdk;

namespace Relay.Cluster.Tests;

/// <summary>
/// Runs a class's test cases grouped by their first argument (the placement), then by name, so that a
/// <see cref="ThreeNodeCluster"/> shared by the class switches placement once instead of between every two cases.
/// </summary>
public sealed class PlacementOrderer : ITestCaseOrderer
{
    /// <summary>The orderer's type name, for <see cref="Xunit.TestCaseOrdererAttribute"/>.</summary>
    public const string TypeName = "Relay.Cluster.Tests.PlacementOrderer";

    /// <summary>The orderer's assembly, for <see cref="Xunit.TestCaseOrdererAttribute"/>.</summary>
    public const string AssemblyName = "Relay.Cluster.Tests";

    /// <inheritdoc />
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases)
        where TTestCase : ITestCase =>
        testCases
            .OrderBy(testCase => PlacementOf(testCase), StringComparer.Ordinal)
            .ThenBy(testCase => testCase.TestMethod.Method.Name, StringComparer.Ordinal)
            .ThenBy(testCase => testCase.UniqueID, StringComparer.Ordinal);

    // The display name carries the argument whether or not the runner handed the case over with its arguments.
    private static string PlacementOf(ITestCase testCase) =>
        testCase.TestMethodArguments is [string placement, ..] ? placement
        : testCase.DisplayName.Contains("\"sharded\"", StringComparison.Ordinal) ? "sharded"
        : testCase.DisplayName.Contains("\"singleton\"", StringComparison.Ordinal) ? "singleton"
        : string.Empty;
}
