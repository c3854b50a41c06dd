using Microsoft.Extensions.Configuration;
using Relay.Actors.Hosting;

namespace Relay.Cluster.Tests;

/// <summary>Binds a deployment's environment variables to Relay's settings the way the Gateway binds them.</summary>
public static class EnvironmentConfiguration
{
    /// <summary>
    /// Binds <see cref="RelayOptions"/> through the real environment-variable provider (<c>__</c> is <c>:</c>): the
    /// variables are set under a prefix unique to this call and removed after. With <paramref name="errorOnUnknown"/>,
    /// a <c>Relay__</c> variable that names no setting throws (<see cref="InvalidOperationException"/>).
    /// </summary>
    public static RelayOptions Bind(IReadOnlyDictionary<string, string> variables, bool errorOnUnknown = false)
    {
        var prefix = $"RELAY_DEPLOY_TEST_{Guid.NewGuid():N}_";
        try
        {
            foreach (var (key, value) in variables)
            {
                Environment.SetEnvironmentVariable(prefix + key, value);
            }

            var configuration = new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build();
            var options = new RelayOptions();
            configuration.GetSection(RelayOptions.Section).Bind(options, binder => binder.ErrorOnUnknownConfiguration = errorOnUnknown);
            return options;
        }
        finally
        {
            foreach (var key in variables.Keys)
            {
                Environment.SetEnvironmentVariable(prefix + key, null);
            }
        }
    }
}
