namespace OnnxSteer.Tokenizers;

/// <summary>A tokenizer file that cannot be read, is malformed, or uses a component this reader does not implement.</summary>
public class InvalidTokenizerException(ErrorText message, Exception? inner = null) : InvalidInputException(message, inner);
