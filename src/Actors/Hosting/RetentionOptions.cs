#nullable enable
namespace Relay.Actors.Hosting;

/// <summary>
/// Retention (<c>Relay:Retention</c>, docs/api.md "Retention"): per prefix of documents, how much of each history the
/// journal keeps under its snapshot. Applied in the background by one sweeper for the cluster, every
/// <see cref="IntervalSeconds"/>, as trims (docs/api.md "Trim"): only what the snapshot joiners start from covers
/// ever goes, so it needs compaction. Off unless a policy is set.
/// </summary>
public sealed class RetentionOptions
{
    /// <summary>The policies; a document follows the first whose prefix its name starts with.</summary>
    public List<RetentionPolicy> Policies { get; set; } = new();

    /// <summary>How often the sweeper looks for what to trim (and once right after it starts).</summary>
    public int IntervalSeconds { get; set; } = 3600;

    /// <summary>Whether any policy is set.</summary>
    public bool IsEnabled => Policies.Count > 0;

    /// <summary>Throws when a setting cannot work; <paramref name="compaction"/>: whether compaction is on.</summary>
    public void Validate(bool compaction)
    {
        if (!IsEnabled)
        {
            return;
        }

        if (!compaction)
        {
            throw new InvalidOperationException("Relay:Retention needs compaction (Relay:Compaction:Mode): it only trims what a snapshot covers");
        }

        if (IntervalSeconds < 1)
        {
            throw new InvalidOperationException("Relay:Retention:IntervalSeconds must be positive");
        }

        for (var i = 0; i < Policies.Count; i++)
        {
            var policy = Policies[i];
            if (policy.Prefix.Length > 0 && !Documents.DocumentName.TryParse("/" + policy.Prefix.TrimEnd('/'), out _, out _))
            {
                throw new InvalidOperationException($"Relay:Retention:Policies:{i}:Prefix '{policy.Prefix}' is no start of a document name");
            }

            if (policy.KeepLast is null && policy.MaxAgeDays is null)
            {
                throw new InvalidOperationException($"Relay:Retention:Policies:{i} sets neither KeepLast nor MaxAgeDays");
            }

            if (policy.KeepLast < 1 || policy.MaxAgeDays <= 0)
            {
                throw new InvalidOperationException($"Relay:Retention:Policies:{i}: KeepLast must be 1 or more, MaxAgeDays more than 0");
            }
        }
    }

    /// <summary>The policy of <paramref name="documentName"/>: the first whose prefix it starts with; null: none.</summary>
    public RetentionPolicy? PolicyOf(string documentName) =>
        Policies.FirstOrDefault(policy => documentName.StartsWith(policy.Prefix, StringComparison.Ordinal));
}

/// <summary>
/// One retention policy: the documents whose names start with <see cref="Prefix"/> (empty: every document) keep their
/// last <see cref="KeepLast"/> patches, and every patch younger than <see cref="MaxAgeDays"/>; with both set, a patch
/// goes only when both allow it. Never above the snapshot joiners start from.
/// </summary>
public sealed class RetentionPolicy
{
    /// <summary>Document name prefix.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>Patches kept at least, counted back from the head; null: no count.</summary>
    public long? KeepLast { get; set; }

    /// <summary>Patches younger than this many days are kept; null: no age.</summary>
    public double? MaxAgeDays { get; set; }
}
