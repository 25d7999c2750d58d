namespace OnnxSteer.Sites;

/// <summary>No steering site could be found in a model's graph; the message says what was looked for.</summary>
public sealed class NoSitesFoundException(ErrorText message) : InvalidModelException(message);
