namespace Relay.Testing;

/// <summary>Paths in the repository the tests run from.</summary>
public static class RepoPaths
{
    /// <summary>The folder that holds Relay.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The built Gateway assembly, started with <c>dotnet</c> as a real process.</summary>
    public static string GatewayDll
    {
        get
        {
            var configuration = typeof(RepoPaths).Assembly.Location.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var path = Path.Combine(Root, "src", "Gateway", "bin", configuration, "net10.0", "Relay.Gateway.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build the Gateway first", path);
        }
    }

    /// <summary>A new empty folder under the system temp folder, for one test's files.</summary>
    public static string NewTempFolder(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), "relay-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Relay.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Relay.sln not found above " + AppContext.BaseDirectory);
    }
}
