using System.Text.Json.Serialization;

namespace OnnxSteer.Profiles;

/// <summary>
/// Compile-time JSON metadata for profiles: reading one with reflection-built metadata cost a short <c>patch</c> more
/// start-up time than any other stage (issue 29). <see cref="ProfileJson"/>'s options (names, converters) still apply.
/// </summary>
[JsonSerializable(typeof(SteeringProfile))]
internal sealed partial class ProfileJsonContext : JsonSerializerContext;
